//! docs/architecture.md says how many fields `Daemon` has; this keeps the page true.

const DOC: &str = include_str!("../../../../docs/architecture.md");
const DAEMON: &str = include_str!("../mod.rs");

/// The fields of `pub struct Daemon`, read from its source.
fn daemon_fields() -> Vec<&'static str> {
    let start = DAEMON
        .find("pub struct Daemon {")
        .expect("Daemon is defined in mod.rs");
    let body = &DAEMON[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
    body.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.is_empty())
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
        .collect()
}

#[test]
fn the_architecture_page_counts_the_daemons_fields() {
    let fields = daemon_fields();
    let claim = format!("`host/src/daemon/mod.rs`, {} fields", fields.len());
    assert!(
        DOC.contains(&claim),
        "docs/architecture.md should say {claim:?} (fields: {fields:?})"
    );
    // Each owner the page names is a field.
    for owner in ["ingest", "export", "own_restart", "leaving", "clock"] {
        assert!(
            fields.contains(&owner),
            "{owner} is not a field: {fields:?}"
        );
    }
}
