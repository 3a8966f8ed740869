#!/usr/bin/env python3
"""Reference harvesters of the harvest benchmark (bench/run.sh): Sickle
and pyoai harvest a whole ListRecords list from the local OAI-PMH server
into a file, one record's XML after the other, as a plain harvesting
script would.

    python3 bench/ref_oai.py sickle|pyoai BASE_URL OUT.xml

Prints the number of records written. Neither tool normalises, deduplicates
or stores anything: the comparison shows what unicat's extra work costs
next to a bare harvest.
"""

import sys


def sickle_harvest(url, out):
    from sickle import Sickle

    n = 0
    # iterator yields Record objects; .raw is the record element's XML.
    for record in Sickle(url, max_retries=3).ListRecords(metadataPrefix="marc21"):
        out.write(record.raw.encode("utf-8"))
        out.write(b"\n")
        n += 1
    return n


class _LxmlShim:
    """lxml with the `XPathEvaluator.evaluate` method that lxml 5 removed
    and pyoai 2.5 (its latest release) still calls: a stand-in for the
    `etree` module inside `oaipmh.client`, so pyoai runs unchanged."""

    def __init__(self, etree):
        self._etree = etree

    def __getattr__(self, name):
        return getattr(self._etree, name)

    def XPathEvaluator(self, *args, **kwargs):  # noqa: N802 (lxml's name)
        evaluator = self._etree.XPathEvaluator(*args, **kwargs)

        class Evaluator:
            evaluate = staticmethod(evaluator)

            def __call__(self, *a, **kw):
                return evaluator(*a, **kw)

        return Evaluator()


def pyoai_harvest(url, out):
    from lxml import etree
    import oaipmh.client
    from oaipmh.client import Client
    from oaipmh.metadata import MetadataRegistry

    if not hasattr(etree.XPathElementEvaluator, "evaluate"):
        oaipmh.client.etree = _LxmlShim(etree)

    registry = MetadataRegistry()
    # pyoai has no marc21 reader; the registry accepts any callable, and
    # this one keeps the metadata element's XML as it came.
    registry.registerReader("marc21", lambda element: etree.tostring(element))
    # pyoai POSTs by default; unicat's test server, like many
    # repositories, answers GET only.
    client = Client(url, registry, force_http_get=True)
    n = 0
    for header, metadata, _about in client.listRecords(metadataPrefix="marc21"):
        out.write(b"<record><id>" + header.identifier().encode("utf-8") + b"</id>")
        if metadata is not None:
            out.write(metadata)
        out.write(b"</record>\n")
        n += 1
    return n


def main():
    tool, url, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    harvest = {"sickle": sickle_harvest, "pyoai": pyoai_harvest}[tool]
    with open(dst, "wb") as out:
        n = harvest(url, out)
    print(f"records={n}")


if __name__ == "__main__":
    main()
