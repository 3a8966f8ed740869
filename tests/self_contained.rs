//! The repository stands on its own: nothing in it reads the reference
//! shelf that sits beside the developers' clone (a `shared` folder), because a
//! clone anywhere else has no such folder and its tests would fail there.
//! Only the benchmark may look there for its large corpus, which stays
//! outside the repository (`bench/run.sh`, `bench/README.md`). One more
//! rule of the layout is kept here too: normalisation and dedup stand apart.

use std::path::{Path, PathBuf};

/// Files allowed to name the shelf: the benchmark's corpus lookup.
const ALLOWED: &[&str] = &["bench/run.sh", "bench/README.md"];

/// Folders that are build output or version control, not the project.
const SKIPPED: &[&str] = &[
    "target",
    ".git",
    "fuzz/target",
    "fuzz/crashes",
    "demo-output",
];

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        let rel = path.strip_prefix(root).expect("under root");
        if SKIPPED.iter().any(|s| rel == Path::new(s)) {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(path);
        }
    }
}

// Issue 23: every test that read the shelf beside the clone failed in a plain clone.
#[test]
fn no_file_refers_to_the_shelf_beside_the_clone() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Built from parts so that this file does not match itself.
    let needles = [format!("../{}", "shared"), format!("{}/data/", "shared")];
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    assert!(files.len() > 100, "walked only {} files", files.len());
    let mut offenders = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).expect("under root");
        if ALLOWED.iter().any(|a| rel == Path::new(a)) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for needle in &needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                offenders.push(format!("{} mentions {needle}", rel.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "copy what these need into the repository instead:\n{}",
        offenders.join("\n")
    );
}

// The fixtures that replaced the shelf each say where they came from.
#[test]
fn every_copied_fixture_folder_names_its_source_and_licence() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        "fixtures/marc",
        "fixtures/oai",
        "fixtures/schemas",
        "crates/marc/data",
    ] {
        let readme = root.join(dir).join("README.md");
        let text = std::fs::read_to_string(&readme)
            .unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
        let lower = text.to_lowercase();
        assert!(
            lower.contains("source") && lower.contains("licen"),
            "{} must name the source and licence of its files",
            readme.display()
        );
    }
}

/// The `use crate::…` and `crate::…::` paths a source file names, as module
/// names after `crate::` (first segment only).
fn crate_modules_named(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

// Issue 17: normalisation and dedup imported each other (ISBN parsing in
// one, ISSN and LCCN in the other); the shared parts live in `ident` and
// `lang` so each can change without the other.
#[test]
fn normalize_and_dedup_do_not_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let normalize = std::fs::read_to_string(root.join("src/normalize.rs")).expect("normalize.rs");
    assert!(
        !crate_modules_named(&normalize).iter().any(|m| m == "dedup"),
        "src/normalize.rs names crate::dedup"
    );
    let mut files = Vec::new();
    walk(root, &root.join("src/dedup"), &mut files);
    assert!(
        files.len() >= 4,
        "src/dedup holds keys, translit, decision, cluster"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).expect("dedup source");
        assert!(
            !crate_modules_named(&text).iter().any(|m| m == "normalize"),
            "{} names crate::normalize",
            f.display()
        );
    }
}
