//! The Python side under `cargo test`: each Python project's pytest suite (the SDK's helpers
//! and harness, the Python community tagger, the Python example), with `GRACEWIRE` set so the
//! tests that run a built component in gracewire's runtime run too.

use gracewire_e2e::python::python;
use gracewire_e2e::workspace;
use std::process::Command;

fn pytest(project: &str) {
    let ws = workspace();
    let out = Command::new(python())
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "tests",
        ])
        .current_dir(ws.join(project))
        .env("PYTHONPATH", ws.join("sdk/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("GRACEWIRE", gracewire_e2e::gracewire::binary())
        .output()
        .expect("run python3 -m pytest (CI installs pytest with pip)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{project}:\n{text}");
    assert!(out.status.success(), "pytest in {project} failed");
    assert!(
        !text.contains(" skipped"),
        "nothing may be skipped here: {text}"
    );
}

#[test]
fn python_sdk() {
    pytest("sdk/python");
}

#[test]
fn python_community_tagger() {
    pytest("plugins/communities-py");
}

#[test]
fn python_example() {
    pytest("examples/python-announce");
}
