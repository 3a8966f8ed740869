//! Checks that the checked-in MARC-8 tables (`src/marc8_tables.rs`) are
//! what the generator (`tools/gen_marc8_tables.py`) makes of LC's code
//! tables and MARC::Charset's additions, so that nobody edits the generated
//! file by hand or changes the generator without regenerating.
//!
//! This test needs `python3` (standard library only). It fails rather than
//! skips when it is missing.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Command;

/// The generated table must be byte-identical to a fresh run of the generator.
#[test]
fn marc8_tables_are_up_to_date() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let codetables = crate_dir.join("data/codetables.xml");
    assert!(
        codetables.exists(),
        "{} is missing: it is part of the repository (see data/README.md)",
        codetables.display()
    );
    let additions = crate_dir.join("data/additional-iii-characters.xml");
    assert!(
        additions.exists(),
        "{} is missing: it is part of the repository (see data/README.md)",
        additions.display()
    );
    let output = Command::new("python3")
        .arg(crate_dir.join("tools/gen_marc8_tables.py"))
        .arg(&codetables)
        .arg(&additions)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            panic!("python3 not found: it is needed to check the generated marc-8 tables")
        }
        Err(err) => panic!("could not run the generator: {err}"),
    };
    assert!(
        output.status.success(),
        "generator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checked_in =
        std::fs::read(crate_dir.join("src/marc8_tables.rs")).expect("read src/marc8_tables.rs");
    assert!(
        output.stdout == checked_in,
        "src/marc8_tables.rs is out of date; regenerate it with\n  \
         python3 crates/marc/tools/gen_marc8_tables.py crates/marc/data/codetables.xml \
         crates/marc/data/additional-iii-characters.xml crates/marc/src/marc8_tables.rs"
    );
}
