//! Helpers shared by the integration tests: reading the real OAI-PMH
//! responses in `fixtures/oai` (see its README for sources).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;

/// Where the sample responses live, relative to this crate.
pub const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/oai/");

/// The OAI-PMH 2.0 schema.
pub const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/schemas/OAI-PMH.xsd"
);

/// Path of a sample, e.g. `sample_path("sickle/Identify.xml")`.
pub fn sample_path(name: &str) -> PathBuf {
    PathBuf::from(SAMPLES).join(name)
}

/// The bytes of a sample; a missing file is a broken test setup.
pub fn sample(name: &str) -> Vec<u8> {
    let path = sample_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read sample {}: {e}", path.display()))
}

/// Every `.xml` sample, recursively, as paths relative to [`SAMPLES`].
pub fn all_samples() -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "xml") {
                out.push(path);
            }
        }
    }
    let root = PathBuf::from(SAMPLES);
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    let mut names: Vec<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .expect("under root")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
