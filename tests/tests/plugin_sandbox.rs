//! What a plugin can reach through WASI's stand-ins (host/src/plugins/sandbox.rs): a Python
//! plugin (componentize-py, whose runtime calls WASI at start-up) and a Rust one (std) each
//! try to read a file, list a directory, open a socket and read the clock, the environment
//! and randomness, and report what they saw by refusing their config with it.

use gracewire::plugins::PluginKind;
use gracewire_e2e::python::build_python_plugin;
use gracewire_e2e::workspace;
use gracewire_sdk::testing::{build_wasm, TestPlugin};
use serde_json::Value;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// The init error's text: the probe's report.
fn report(kind: PluginKind, wasm: &std::path::Path, config: &str) -> String {
    match TestPlugin::load(kind, wasm, config) {
        Ok(_) => panic!("the probe always refuses its config"),
        Err(e) => format!("{e:#}"),
    }
}

/// Something listens on the port the probes try, so a refused connect is the sandbox's doing.
fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:179")
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .unwrap()
}

#[test]
fn a_python_plugin_loads_and_reaches_nothing_real() {
    let _listening = listener();
    let wasm = build_python_plugin("tests/plugins/python-probe", "community-tagger");
    let text = report(PluginKind::Communities, &wasm, "");
    let json = &text[text.find('{').expect("a JSON report")..];
    let seen: Value = serde_json::from_str(json).unwrap();
    println!("python probe: {seen:#}");
    for denied in ["read_file", "list_root", "connect"] {
        assert!(
            seen[denied]["error"].is_string(),
            "{denied} must fail: {seen}"
        );
    }
    assert_eq!(seen["environ"], serde_json::json!({}), "no environment");
    assert_eq!(seen["argv"], serde_json::json!([]), "no arguments");
    assert_eq!(seen["stdin"]["ok"], "''", "stdin is closed: it reads empty");
    // WASI names no working directory; Python then says `/`, where nothing is open.
    assert_eq!(seen["cwd"]["ok"], "'/'");
    assert_eq!(seen["time"], 0.0, "the wall clock is the epoch");
    assert_eq!(seen["monotonic"], 0.0, "the monotonic clock stands still");
    // Randomness is a fixed sequence: a second instance sees the same numbers.
    let again: Value = serde_json::from_str(&{
        let t = report(PluginKind::Communities, &wasm, "");
        t[t.find('{').unwrap()..].to_string()
    })
    .unwrap();
    assert_eq!(seen["random"], again["random"]);
    assert_eq!(seen["urandom"], again["urandom"]);
}

#[test]
fn a_plugin_that_sleeps_is_stopped_at_once() {
    let wasm = build_python_plugin("tests/plugins/python-probe", "community-tagger");
    // What loading alone costs here (compiled and cached by the first call): on two busy
    // cores the other tests load the same 40 MB component at the same time, so a fixed
    // bound would measure the machine, not the sleep.
    report(PluginKind::Communities, &wasm, "print-and-fail");
    let started = Instant::now();
    report(PluginKind::Communities, &wasm, "print-and-fail");
    let load = started.elapsed();
    let started = Instant::now();
    let text = report(PluginKind::Communities, &wasm, "sleep");
    let slept = started.elapsed();
    println!("sleep: {text} after {slept:?} (a load without it took {load:?})");
    // time.sleep(3600): a sandbox that slept for real, even for a minute, fails this.
    assert!(
        slept < load * 3 + Duration::from_secs(30),
        "time.sleep(3600) held the caller {slept:?}; a load takes {load:?}"
    );
    assert!(text.contains("may not wait"), "{text}");
}

#[test]
fn a_plugin_that_exits_the_process_only_traps() {
    let wasm = build_python_plugin("tests/plugins/python-probe", "community-tagger");
    let text = report(PluginKind::Communities, &wasm, "exit");
    assert!(text.contains("trapped"), "{text}");
    // WASI 0.2's exit carries only ok or error, so status 3 arrives as 1.
    assert!(text.contains("Exited with i32 exit status 1"), "{text}");
}

#[test]
fn a_python_traceback_comes_with_the_error() {
    let wasm = build_python_plugin("tests/plugins/python-probe", "community-tagger");
    let text = report(PluginKind::Communities, &wasm, "print-and-fail");
    assert!(
        text.contains("about to fail: pool `nope` is unknown"),
        "what the plugin printed: {text}"
    );
    assert!(
        text.contains("ValueError: no such pool"),
        "the traceback: {text}"
    );
}

#[test]
fn a_rust_plugin_reaches_nothing_real() {
    let _listening = listener();
    let wasm = build_wasm(&workspace().join("tests/plugins/fixture").to_string_lossy());
    let text = report(PluginKind::Announce, &wasm, "probe");
    println!("rust probe: {text}");
    for line in [
        "read_file=Err(",
        "list_root=Err(",
        "connect=Err(",
        "time=Ok(0)",
        "env=0",
    ] {
        assert!(text.contains(line), "`{line}` in {text}");
    }
}
