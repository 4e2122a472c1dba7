//! Watches plugin files and reports which plugin changed, debounced: an editor or `cp` writes a
//! file in several steps, an atomic rename in one; either way one reload follows.

use super::PluginKind;
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Quiet time after the last change before the plugin is reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(20);

/// Keeps the OS watch alive; dropping it stops watching.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Watches the directories of `files` (files are often replaced by rename, which a watch on
/// the file itself would miss) and sends `(kind, first change seen)` after each burst.
pub fn watch(
    files: Vec<(PluginKind, PathBuf)>,
    out: mpsc::UnboundedSender<(PluginKind, Instant)>,
) -> notify::Result<PluginWatcher> {
    let (raw_tx, raw_rx) = std_mpsc::channel::<PluginKind>();
    let targets: Vec<(PluginKind, PathBuf)> =
        files.iter().map(|(k, p)| (*k, absolute(p))).collect();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if event.kind.is_access() {
            return;
        }
        for (kind, target) in &targets {
            if event.paths.iter().any(|p| absolute(p) == *target) {
                let _ = raw_tx.send(*kind);
            }
        }
    })?;
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|(_, p)| absolute(p).parent().map(Path::to_path_buf))
        .collect();
    for dir in dirs {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    }
    std::thread::Builder::new()
        .name("plugin-watch".into())
        .spawn(move || {
            while let Ok(first) = raw_rx.recv() {
                let seen = Instant::now();
                let mut kinds = BTreeSet::from([first]);
                while let Ok(k) = raw_rx.recv_timeout(DEBOUNCE) {
                    kinds.insert(k);
                }
                for k in kinds {
                    if out.send((k, seen)).is_err() {
                        return;
                    }
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(PluginWatcher { _watcher: watcher })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
