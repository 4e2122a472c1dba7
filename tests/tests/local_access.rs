//! Local access: run as an unprivileged user with umask 000, `state_dir`, the control socket,
//! the restart record and the plugin compile cache are still owner-only; another user cannot
//! use the control socket; a compile cache that others can write is refused.

use gracewire_e2e::gracewire::binary;
use gracewire_e2e::{wait_for, Lab, Process};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SUITE: u8 = 37;
const NOBODY: &str = "65534";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o777
}

fn start(dir: &Path, config: &Path, log: &Path) -> Process {
    let script = format!(
        "umask 000; exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups {} run --config {}",
        binary().display(),
        config.display()
    );
    let p = Process::spawn(Command::new("sh").args(["-c", &script]), log);
    let socket = dir.join("state/gracewire.sock");
    wait_for(
        "gracewire serving as nobody",
        Duration::from_secs(40),
        || {
            Command::new(binary())
                .args(["show", "neighbors", "--json", "--socket"])
                .arg(&socket)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| ())
        },
    );
    p
}

#[test]
fn state_is_owner_only_for_an_unprivileged_user_with_umask_000() {
    let lab = Lab::new(SUITE);
    // A directory the unprivileged user may create its state_dir in.
    std::fs::set_permissions(lab.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir: PathBuf = lab.path("local");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let wasm = gracewire_sdk::testing::build_wasm(&format!(
        "{}/../plugins/communities",
        env!("CARGO_MANIFEST_DIR")
    ));
    std::fs::copy(&wasm, dir.join("communities.wasm")).unwrap();
    let config = dir.join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\nstate_dir = \"{}\"\n\n\
             [plugins.communities]\npath = \"communities.wasm\"\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    let log = lab.path("gracewire.log");
    let mut gw = start(&dir, &config, &log);
    let state = dir.join("state");
    assert_eq!(
        std::fs::metadata(&state).unwrap().uid(),
        65534,
        "made by the unprivileged user"
    );
    assert_eq!(mode(&state), 0o700, "state_dir");
    assert_eq!(mode(&state.join("gracewire.sock")), 0o600, "control socket");
    wait_for("restart record", Duration::from_secs(10), || {
        state.join("restart-state.json").exists().then_some(())
    });
    assert_eq!(
        mode(&state.join("restart-state.json")),
        0o600,
        "restart record"
    );
    let cache = state.join("plugin-cache");
    assert_eq!(mode(&cache), 0o700, "plugin cache");
    let artifacts: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert_eq!(mode(&artifacts[0]), 0o600, "compiled plugin");

    // Another unprivileged user cannot reach the control socket (drain, reset: operator only).
    let out = Command::new("setpriv")
        .args(["--reuid=65533", "--regid=65533", "--clear-groups"])
        .arg(binary())
        .args(["show", "neighbors", "--socket"])
        .arg(state.join("gracewire.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach"), "{err}");

    // A cache directory others could write is refused, and gracewire runs without it.
    gw.stop("TERM", Duration::from_secs(10));
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let _gw = start(&dir, &config, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("plugin compile cache refused"), "{text}");
    assert!(
        text.contains("can be written by others (mode 777)"),
        "{text}"
    );
}
