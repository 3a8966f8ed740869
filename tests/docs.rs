//! The generated reference documentation (`unicat generate-docs`, issue
//! #21): a man page for the program and each subcommand, unicat.toml(5)
//! with every configuration key the parser accepts and the defaults it
//! really applies, and shell completions that the shells accept.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use unicat::config::{accepted_keys, Config};
use unicat::docs::{KeyDefault, KEYS};

mod common;

/// Runs `unicat generate-docs DIR` as the packaging script does.
fn generate(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args(["generate-docs", dir.to_str().unwrap()])
        .env_remove("UNICAT_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "generate-docs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// The drift the issue forbids: a key added to the configuration types
// without a description in unicat.toml(5) fails here (the key list comes
// from the parser, not from the page's own table), and so does a
// description left behind for a key that was removed.
#[test]
fn every_accepted_config_key_is_in_unicat_toml_5() {
    let (undocumented, unknown) = unicat::docs::key_drift();
    assert!(
        undocumented.is_empty(),
        "keys without a description: {undocumented:?}"
    );
    assert!(unknown.is_empty(), "descriptions of no key: {unknown:?}");
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let page = std::fs::read_to_string(dir.path().join("man5/unicat.toml.5")).unwrap();
    let keys = accepted_keys();
    assert!(keys.len() > 100, "too few keys found: {}", keys.len());
    for (table, key, is_table) in keys {
        let full: Vec<String> = table.iter().cloned().chain([key]).collect();
        let full = full.join(".");
        // A table is a section heading; a key an entry in bold (roff's
        // \fB...\fR), shown under its table's heading.
        // roff writes a hyphen as `\-`. An entry names the key relative
        // to the nearest section (`replace.field` under [[partner.rule]]).
        let escaped: Vec<String> = full.split('.').map(|p| p.replace('-', "\\-")).collect();
        let found = (0..escaped.len())
            .any(|i| page.contains(&format!("\\fB{}\\fR", escaped[i..].join("."))))
            || (is_table && page.contains(&format!("[{}]", escaped.join("."))));
        assert!(found, "unicat.toml(5) does not describe `{full}`");
    }
}

/// A minimal configuration with an empty `table` present (so that an
/// optional table is there with its defaults), plus `line` in it.
fn config_with(table: &str, line: &str) -> String {
    let mut t = String::from("state-dir = \"/tmp/unicat-docs-state\"\n");
    if table.is_empty() {
        t.push_str(line);
        t.push('\n');
    }
    t.push_str("[publish]\noutput-dir = \"/tmp/unicat-docs-publish\"\n");
    if table == "publish" {
        t.push_str(line);
        t.push('\n');
    }
    if table.starts_with("publish.sink") {
        t.push_str("[[publish.sink]]\nname = \"s\"\ndir = \"/tmp/unicat-docs-sink\"\n");
        if table != "publish.sink" {
            t.push_str(&format!("[{table}]\n"));
        }
        t.push_str(line);
        t.push('\n');
    } else if !table.is_empty() && table != "publish" && !table.starts_with("partner") {
        t.push_str(&format!("[{table}]\n{line}\n"));
    }
    t.push_str(
        "[[partner]]\nname = \"anl\"\ncode = \"AZ-BaNL\"\nbase-url = \"https://oai.example.az/oai\"\nschedule = \"0 1 * * *\"\n",
    );
    if table == "partner" {
        t.push_str(line);
        t.push('\n');
    } else if table.starts_with("partner.") {
        t.push_str(&format!("[{table}]\n{line}\n"));
    }
    t
}

/// The parsed configuration, without the places in the text that
/// `Spanned` values remember.
fn parsed(text: &str) -> String {
    let config = Config::parse(Path::new("docs.toml"), text)
        .unwrap_or_else(|e| panic!("{e}\n--- in ---\n{text}"));
    let spans = regex::Regex::new(r"span: \d+\.\.\d+,?").unwrap();
    spans.replace_all(&format!("{config:?}"), "").into_owned()
}

// unicat.toml(5) states defaults; a default written as a TOML value must
// be the one the parser applies: writing it out gives the configuration
// that leaving the key out gives (so a default changed in the code fails
// here until the page follows).
#[test]
fn documented_defaults_are_the_parsers() {
    let mut checked = 0;
    for doc in KEYS {
        let KeyDefault::Toml(value) = doc.default else {
            continue;
        };
        let (table, key) = doc.key.rsplit_once('.').unwrap_or(("", doc.key));
        let without = parsed(&config_with(table, ""));
        let with = parsed(&config_with(table, &format!("{key} = {value}")));
        assert_eq!(
            with, without,
            "unicat.toml(5) says `{}` defaults to {value}, the parser disagrees",
            doc.key
        );
        // The comparison can fail: another value gives another configuration.
        let other = match value {
            "true" => "false".to_string(),
            "false" => "true".to_string(),
            "[]" if doc.unit.contains("pairs") => "[[\"(A)1\", \"(B)2\"]]".to_string(),
            "[]" => "[\"x\"]".to_string(),
            v if v.starts_with('"') => {
                // The other value of two-valued keys, else another text.
                let alt = match v {
                    "\"sqlite\"" => "\"postgres\"",
                    "\"text\"" => "\"json\"",
                    "\"list-records\"" => "\"identifiers\"",
                    "\"nfc\"" => "\"nfd\"",
                    "\"127.0.0.1:8080\"" => "\"127.0.0.1:8081\"",
                    _ => "\"other\"",
                };
                alt.to_string()
            }
            v if v.contains('.') => format!("{}", v.parse::<f64>().unwrap() + 0.25),
            v => format!("{}", v.parse::<u64>().unwrap() + 1),
        };
        let changed = parsed(&config_with(table, &format!("{key} = {other}")));
        assert_ne!(changed, without, "`{} = {other}` changed nothing", doc.key);
        checked += 1;
    }
    assert!(checked > 60, "only {checked} defaults checked");
}

// One page per subcommand the user can run, and the program's own page;
// man renders each without complaint (groff's warnings are errors here).
#[test]
fn man_pages_for_every_subcommand_render() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let mut expected = BTreeSet::from(["unicat.1".to_string()]);
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() == "help" {
                continue;
            }
            let name = format!("{prefix}-{}", sub.get_name());
            out.insert(format!("{name}.1"));
            walk(sub, &name, out);
        }
    }
    walk(&unicat::cli::Cli::command(), "unicat", &mut expected);
    assert!(expected.contains("unicat-harvest.1"));
    assert!(expected.contains("unicat-quarantine-show.1"));
    let written: BTreeSet<String> = std::fs::read_dir(dir.path().join("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, expected);
    let pages = expected
        .iter()
        .map(|p| dir.path().join("man1").join(p))
        .chain([dir.path().join("man5/unicat.toml.5")]);
    for page in pages {
        let out = common::tool("man", "man-db")
            .args(["--warnings", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{}: {stderr}",
            page.display()
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("NAME"));
    }
    // unicat(1) also says what clap does not know.
    let top = std::fs::read_to_string(dir.path().join("man1/unicat.1")).unwrap();
    for section in [
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "JOURNAL FIELDS",
        "SEE ALSO",
    ] {
        assert!(
            top.contains(&format!(".SH \"{section}\"")) || top.contains(&format!(".SH {section}")),
            "unicat(1) lacks {section}"
        );
    }
    assert!(top.contains("UNICAT_EVENT=harvest_failed"));
    let harvest = std::fs::read_to_string(dir.path().join("man1/unicat-harvest.1")).unwrap();
    assert!(harvest.contains("partner"), "{harvest}");
}

// The bash completion loads and completes the subcommands (not the hidden
// generate-docs); zsh's and fish's are written for their install paths.
#[test]
fn bash_completion_completes_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let script = format!(
        "source {}; COMP_WORDS=(unicat har); COMP_CWORD=1; COMP_LINE='unicat har'; COMP_POINT=10; _unicat unicat har unicat; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        dir.path().join("completions/unicat").display()
    );
    let out = common::tool("bash", "bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "harvest"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The hidden packaging command is not offered, the options are.
    let bash = std::fs::read_to_string(dir.path().join("completions/unicat")).unwrap();
    assert!(!bash.contains("generate-docs"), "{bash}");
    assert!(bash.contains("--log-format") && bash.contains("--config"));
    let zsh = std::fs::read_to_string(dir.path().join("completions/_unicat")).unwrap();
    assert!(zsh.starts_with("#compdef unicat"), "{zsh}");
    let fish = std::fs::read_to_string(dir.path().join("completions/unicat.fish")).unwrap();
    assert!(fish.contains("complete -c unicat"), "{fish}");
}
