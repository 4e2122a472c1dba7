//! `gracewire plugin call`, the runner for plugin tests in any language: a GR profile asked
//! for a peer's timers, and a community tagger for a batch, each answered as JSON; a config
//! the plugin refuses fails with its message.

use gracewire_e2e::workspace;
use gracewire_sdk::testing::build_wasm;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

fn call(kind: &str, wasm: &std::path::Path, config: &str, input: &Value) -> (bool, String) {
    let mut child = Command::new(gracewire_e2e::gracewire::binary())
        .args(["plugin", "call", kind])
        .arg(wasm)
        .args(["--config", config])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).to_string()
    } else {
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    (out.status.success(), text)
}

fn peer(vendor: &str) -> Value {
    json!({"name": "tor1", "address": {"v6": false, "hi": 0, "lo": 0xc000_0202u32},
           "local_asn": 64512, "remote_asn": 65001, "vendor": vendor, "hold_time": 90,
           "families": ["Ipv4Unicast", "Ipv6Unicast"]})
}

#[test]
fn a_gr_profile_answers_a_peers_timers() {
    let wasm = build_wasm(&workspace().join("plugins/gr-profiles").to_string_lossy());
    let config = r#"{"vendors": {"frr": {"restart_time": 300}}}"#;
    let input = json!({"peer": peer("frr"), "capability": null});
    let (ok, text) = call("gr", &wasm, config, &input);
    assert!(ok, "{text}");
    let timers: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(timers["restart_time"], 300, "{timers}");
    let families = timers["forwarding_preserved"].as_array().unwrap();
    assert_eq!(families.len(), 2, "{timers}");
}

#[test]
fn a_tagger_answers_a_batch_and_a_refused_config_says_why() {
    let wasm = build_wasm(&workspace().join("plugins/communities").to_string_lossy());
    let batch = json!({"labels": [{"key": "pool", "value": "public"}], "set_labels": [0],
                       "set_start": [0, 1], "label_set": [0], "addr_hi": [0],
                       "addr_lo": [0xc633_640au32], "prefix_len": [32], "v6": [0]});
    let input = json!({"peer": peer("frr"), "batch": batch});
    let config = r#"{"rules": [{"pools": ["public"], "add": ["no-export"]}]}"#;
    let (ok, text) = call("communities", &wasm, config, &input);
    assert!(ok, "{text}");
    let tagging: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        tagging["sets"],
        json!([{"tags": [{"kind": "AddStandard", "a": 0xffff_ff01u32, "b": 0, "c": 0, "ext": 0}],
                "rule": "rules[0]"}]),
        "{tagging}"
    );
    let (ok, text) = call(
        "communities",
        &wasm,
        r#"{"rules": [{"add": ["bogus"]}]}"#,
        &input,
    );
    assert!(!ok);
    assert!(
        text.contains("init rejected its config") && text.contains("rules[0].add[0]"),
        "{text}"
    );
}
