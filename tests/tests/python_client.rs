//! The control API driven by clients nobody here wrote the transport of (issue 27): Python with
//! `grpcio` and stubs generated from the repo's proto at test time (tests/python/api_client.py)
//! sets, changes and deletes a controller's announcements while watching the events, and FRR
//! sees the routes come and go; README's Python snippet runs as written; the Rust example
//! (examples/api-client, tonic) does the same; and `gracewire reload` answers with the outcome.

use gracewire_e2e::frr::Frr;
use gracewire_e2e::python::python;
use gracewire_e2e::{wait_for, workspace, Gracewire, Lab, Router};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SUITE: u8 = 54;
const GW_ASN: u32 = 64512;
const T: Duration = Duration::from_secs(30);

fn config(lab: &Lab, peer: Ipv4Addr, extra: &str) -> String {
    format!(
        r#"[global]
asn = {GW_ASN}
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "frr"
address = "{peer}"
asn = 65002
local_address = "{gw}"
hold_time = 9
connect_retry = 1

[[announce]]
prefix = "198.51.100.20/32"
next_hop = "192.0.2.1"
{extra}"#,
        gw = lab.addr(1),
    )
}

struct Client {
    socket: PathBuf,
    stubs: PathBuf,
}

impl Client {
    fn script() -> PathBuf {
        workspace().join("tests/python/api_client.py")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(python());
        c.arg(Self::script())
            .arg(&self.socket)
            .arg(&self.stubs)
            .args(args);
        c
    }

    /// Runs one step; its stdout, and whether it succeeded.
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.command(args).output().expect("run python3");
        assert!(
            out.status.success() || out.status.code() == Some(3),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.run(args);
        assert!(ok, "{args:?} refused: {out}");
        out
    }
}

fn frr_prefixes(frr: &Frr) -> BTreeSet<String> {
    frr.routes().into_iter().map(|r| r.prefix).collect()
}

fn wait_frr(frr: &Frr, what: &str, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|p| p.to_string()).collect();
    wait_for(what, T, || (frr_prefixes(frr) == want).then_some(()));
}

#[test]
fn python_and_rust_clients_drive_announcements_that_frr_follows() {
    let lab = Lab::new(SUITE);
    let mut frr = Frr::new(&lab, lab.spec(2, 65002, GW_ASN));
    frr.start();
    let mut gw = Gracewire::start(&lab, &config(&lab, lab.addr(2), ""));
    gw.wait_established("frr", T);
    wait_frr(&frr, "FRR has the config's route", &["198.51.100.20/32"]);

    let client = Client {
        socket: gw.socket.clone(),
        stubs: lab.path("py-stubs"),
    };
    client.ok(&["stubs"]);
    assert!(client
        .stubs
        .join("gracewire/v1/control_pb2_grpc.py")
        .exists());

    // A watcher from the start, its events collected as they come.
    let mut watcher = client
        .command(&["watch"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let events: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let lines = BufReader::new(watcher.stdout.take().unwrap());
    let seen = events.clone();
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            seen.lock()
                .unwrap()
                .push(serde_json::from_str(&line).unwrap());
        }
    });
    std::thread::sleep(Duration::from_millis(500));

    let nh = "192.0.2.1";
    let out = client.ok(&[
        "set",
        "ctl",
        nh,
        "203.0.113.1/32",
        "203.0.113.2/32",
        "203.0.113.3/32",
    ]);
    assert!(out.contains("3 added"), "{out}");
    let config_route = "198.51.100.20/32";
    wait_frr(
        &frr,
        "FRR has the three",
        &[
            config_route,
            "203.0.113.1/32",
            "203.0.113.2/32",
            "203.0.113.3/32",
        ],
    );
    // Set is declarative: .2 and .3 go, .4 comes, .1 stays untouched.
    client.ok(&["set", "ctl", nh, "203.0.113.1/32", "203.0.113.4/32"]);
    wait_frr(
        &frr,
        "FRR follows the new set",
        &[config_route, "203.0.113.1/32", "203.0.113.4/32"],
    );
    client.ok(&["add", "ctl", nh, "203.0.113.5/32"]);
    client.ok(&["delete", "ctl", "203.0.113.1/32"]);
    wait_frr(
        &frr,
        "FRR after add and delete",
        &[config_route, "203.0.113.4/32", "203.0.113.5/32"],
    );

    // Refusals: a status with the field named, and nothing applied.
    let (ok, out) = client.run(&["add", "ctl", nh, "203.0.113.7/31"]);
    assert!(!ok);
    assert!(
        out.starts_with("INVALID_ARGUMENT: announcements[0].prefix:") && out.contains("host bits"),
        "{out}"
    );
    let (_, out) = client.run(&["add", "ctl", nh, config_route]);
    assert!(
        out.starts_with("FAILED_PRECONDITION: ") && out.contains("`config`"),
        "{out}"
    );
    let (_, out) = client.run(&["delete", "nobody", "203.0.113.4/32"]);
    assert!(out.starts_with("NOT_FOUND: "), "{out}");
    let (_, out) = client.run(&["malformed"]);
    assert!(
        out.starts_with("INVALID_ARGUMENT: malformed request"),
        "{out}"
    );
    let listed: serde_json::Value = serde_json::from_str(&client.ok(&["list"])).unwrap();
    let ctl = listed["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "ctl")
        .expect("the source listed");
    let prefixes: Vec<&str> = ctl["announcements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["prefix"].as_str().unwrap())
        .collect();
    assert_eq!(prefixes, ["203.0.113.4/32", "203.0.113.5/32"]);
    wait_frr(
        &frr,
        "FRR unchanged by the refusals",
        &[config_route, "203.0.113.4/32", "203.0.113.5/32"],
    );

    // What the watcher saw: each change of the source, and the routes sent and withdrawn.
    wait_for("the events of four changes", T, || {
        let events = events.lock().unwrap();
        let changes = events
            .iter()
            .filter(|e| e["announcements"]["source"] == "ctl")
            .count();
        (changes >= 4).then_some(())
    });
    let events = events.lock().unwrap().clone();
    let sent = |key: &str, prefix: &str| {
        events.iter().any(|e| {
            e["routes"]["peer"] == "frr"
                && e["routes"][key]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p == prefix))
        })
    };
    assert!(sent("announced_prefixes", "203.0.113.4/32"), "{events:?}");
    assert!(sent("withdrawn_prefixes", "203.0.113.2/32"), "{events:?}");
    assert!(events
        .iter()
        .all(|e| e["unix_ms"].is_string() || e["unix_ms"].is_u64()));

    // The watcher goes mid-stream: the daemon and the session do not notice.
    watcher.kill().unwrap();
    let _ = watcher.wait();
    let neighbors: serde_json::Value = serde_json::from_str(&client.ok(&["neighbors"])).unwrap();
    assert_eq!(neighbors["peers"][0]["state"], "Established", "{neighbors}");

    readme_snippet(&client, &gw.socket);
    wait_frr(
        &frr,
        "the snippet's route at FRR",
        &[
            config_route,
            "198.51.100.10/32",
            "203.0.113.4/32",
            "203.0.113.5/32",
        ],
    );
    rust_example(&gw.socket);
    wait_frr(
        &frr,
        "the Rust example's route, then deleted",
        &[
            config_route,
            "198.51.100.10/32",
            "203.0.113.4/32",
            "203.0.113.5/32",
        ],
    );

    // `gracewire reload`: a config that does not check is refused with check's message and
    // nothing changes; a good one is applied and the answer says so.
    std::fs::write(&gw.config, "[global]\nasn = \"x\"\n").unwrap();
    let out = Command::new(gracewire_e2e::gracewire::binary())
        .args(["reload", "--socket"])
        .arg(&gw.socket)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("FAILED_PRECONDITION: config reload rejected"),
        "{err}"
    );
    let check = Command::new(gracewire_e2e::gracewire::binary())
        .args(["check", "--config"])
        .arg(&gw.config)
        .output()
        .unwrap();
    let check_err = String::from_utf8_lossy(&check.stderr);
    let why = check_err.trim().trim_start_matches("gracewire: ");
    assert!(err.contains(why), "reload: {err}\ncheck: {check_err}");
    // SIGHUP reads the same file the same way: the same message, in the log.
    gw.process.signal("HUP");
    wait_for("SIGHUP's refusal logged with check's message", T, || {
        let log = gw.process.log_text();
        log.matches("config reload rejected")
            .count()
            .ge(&2)
            .then_some(())
    });
    let log = gw.process.log_text();
    let last = &log[log.rfind("config reload rejected").unwrap()..];
    assert!(last.contains(why), "SIGHUP: {last}\ncheck: {check_err}");
    let extra = "\n[[announce]]\nprefix = \"198.51.100.11/32\"\nnext_hop = \"192.0.2.1\"\n";
    gw.write_config(&config(&lab, lab.addr(2), extra), &lab);
    let out = gw.cli(&["reload"]);
    assert!(
        out.contains("config reloaded: 1 peers, 5 announcements"), // the config's 2, the controllers' 3
        "{out}"
    );
    wait_frr(
        &frr,
        "FRR has the reloaded route",
        &[
            config_route,
            "198.51.100.10/32",
            "198.51.100.11/32",
            "203.0.113.4/32",
            "203.0.113.5/32",
        ],
    );
    gw.process.stop("TERM", Duration::from_secs(10));
}

/// README's snippet, as written but for the socket: it sets 198.51.100.10/32 as the source
/// `lb-ctl` and prints the sessions.
fn readme_snippet(client: &Client, socket: &Path) {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let start = readme
        .find("```python\n")
        .expect("README has a Python snippet")
        + 10;
    let snippet = &readme[start..start + readme[start..].find("```").unwrap()];
    assert!(snippet.contains("/var/lib/gracewire/gracewire.sock"));
    let snippet = snippet.replace(
        "/var/lib/gracewire/gracewire.sock",
        socket.to_str().unwrap(),
    );
    let path = client.stubs.join("snippet.py");
    std::fs::write(&path, &snippet).unwrap();
    let out = Command::new(python())
        .arg(&path)
        .env("PYTHONPATH", &client.stubs)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "README snippet: {stdout}{stderr}");
    assert!(stdout.starts_with("frr Established "), "{stdout}");
}

/// examples/api-client, built and run: sets one route under its own source, lists it, deletes.
fn rust_example(socket: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "-q", "-p", "api-client"])
        .current_dir(workspace())
        .status()
        .unwrap();
    assert!(built.success());
    let bin = gracewire_e2e::target_dir().join("debug/api-client");
    let run = |args: &[&str]| {
        let out = Command::new(&bin)
            .arg("--socket")
            .arg(socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "api-client {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&[
        "set",
        "rust-ex",
        "203.0.113.9/32",
        "--next-hop",
        "192.0.2.1",
    ]);
    assert!(out.contains("1 added"), "{out}");
    let out = run(&["list"]);
    assert!(out.contains("rust-ex 203.0.113.9/32"), "{out}");
    run(&["delete", "rust-ex", "203.0.113.9/32"]);
}
