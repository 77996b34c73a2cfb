//! The committed completions and man pages must match what the current CLI generates.
//! Regenerate with `cargo run -- generate .` after changing the CLI.

use std::path::Path;

#[test]
fn completions_and_man_pages_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = childproc::cmd::generate::files().expect("generation works");
    assert!(
        files.len() >= 5 + 4,
        "5 shells and a man page per subcommand plus the top page"
    );
    let mut stale = Vec::new();
    for (rel, want) in &files {
        match std::fs::read(root.join(rel)) {
            Ok(have) if &have == want => {}
            _ => stale.push(rel.clone()),
        }
    }
    assert!(
        stale.is_empty(),
        "out of date (run `cargo run -- generate .` and commit): {stale:?}"
    );
}

#[test]
fn every_subcommand_has_a_man_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["spawn", "exec", "execfile"] {
        let page = std::fs::read_to_string(root.join(format!("man/childproc-{sub}.1")))
            .unwrap_or_else(|e| panic!("man/childproc-{sub}.1: {e}"));
        assert!(
            page.contains(r"\-\-timeout"),
            "{sub} page documents --timeout"
        );
    }
}
