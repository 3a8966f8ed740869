#!/usr/bin/env python3
"""Reference row of the MARC conversion benchmark (bench/run.sh): pymarc
streams a MARCXML collection and writes each record as ISO 2709, the same
conversion unicat's `convert` example does.

    python3 bench/ref_pymarc.py IN.xml OUT.mrc

Streaming (`pymarc.marcxml.parse_xml` with a handler) rather than
`parse_xml_to_array`, so that pymarc is not charged for holding 150,000
records in memory. Prints the number of records written.
"""

import sys

from pymarc.marcxml import XmlHandler, parse_xml


class Writer(XmlHandler):
    """Writes every record as soon as it is parsed."""

    def __init__(self, out):
        super().__init__(strict=False, normalize_form=None)
        self.out = out
        self.written = 0
        self.refused = 0

    def process_record(self, record):
        try:
            self.out.write(record.as_marc())
            self.written += 1
        except Exception as e:  # one bad record must not end the run
            self.refused += 1
            if self.refused <= 5:
                print(f"ref_pymarc: refused: {e}", file=sys.stderr)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(dst, "wb") as out:
        handler = Writer(out)
        parse_xml(src, handler)
    print(f"records={handler.written} refused={handler.refused}")


if __name__ == "__main__":
    main()
