//! Python plugins for the tests: built with the repo's Python SDK (componentize-py, which CI
//! installs with pip), once per change of their sources, into the cargo target directory.

use crate::workspace;
use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

/// The Python interpreter the tests use (`PYTHON`, else `python3`).
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn newest_source(dirs: &[PathBuf]) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for dir in dirs {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "py" || e == "wit") {
                let modified = entry.metadata().and_then(|m| m.modified());
                newest = newest.max(modified.unwrap_or(SystemTime::now()));
            }
        }
    }
    newest
}

/// Builds the Python plugin in `dir` (relative to the workspace) for `world` and returns the
/// `.wasm`; a build newer than every source (the plugin's, the SDK's, the WIT) is reused.
pub fn build_python_plugin(dir: &str, world: &str) -> PathBuf {
    let ws = workspace();
    let out = crate::target_dir()
        .join("python-plugins")
        .join(format!("{}.wasm", dir.replace('/', "-")));
    let sources = [
        ws.join(dir),
        ws.join("sdk/python/gracewire_sdk"),
        ws.join("wit"),
    ];
    let built = std::fs::metadata(&out).and_then(|m| m.modified()).ok();
    if built.is_some_and(|b| b > newest_source(&sources)) {
        return out;
    }
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let done = Command::new(python())
        .args(["-m", "gracewire_sdk", "build", "--world", world, "-o"])
        .arg(&out)
        .arg(ws.join(dir))
        .env("PYTHONPATH", ws.join("sdk/python"))
        .output()
        .expect("run python3 (CI installs componentize-py with pip)");
    assert!(
        done.status.success(),
        "building {dir}: {}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    out
}
