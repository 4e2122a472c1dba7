//! `gracewire plan` against a real peer (gobgpd): a candidate plugin that skips a pool is
//! planned as exactly those withdrawals while the peer's routes stay as they are; swapping to
//! that plugin then changes exactly the planned routes at the peer and nothing else. Every
//! route advertised or planned names the plugin version and rule that decided it.

use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::plugin_lab::{install, labelled_route, plugin_config};
use gracewire_e2e::workspace;
use gracewire_e2e::{wait_for, Gracewire, Lab, Router};
use gracewire_sdk::testing::build_wasm;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const SUITE: u8 = 45;
const T: Duration = Duration::from_secs(30);

fn plan(gw: &Gracewire, args: &[&str]) -> (bool, String) {
    let out = Command::new(gracewire_e2e::gracewire::binary())
        .arg("plan")
        .args(args)
        .arg("--socket")
        .arg(&gw.socket)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_plan_is_exactly_what_the_swap_then_does_at_the_peer() {
    let announce = build_wasm(&workspace().join("plugins/announce").to_string_lossy());
    let skip_private = build_wasm(&workspace().join("tests/plugins/fixture").to_string_lossy());
    let lab = Lab::new(SUITE);
    let a_path = lab.path("announce.wasm");
    install(&announce, &a_path);
    let mut spec = lab.spec(2, 65001, 64512);
    spec.graceful_restart = false;
    let mut gobgp = GoBgp::new(&lab, spec);
    gobgp.start();
    let routes: String = [
        ("198.51.100.10/32", "public"),
        ("198.51.100.20/32", "private"),
        ("198.51.100.21/32", "private"),
        ("198.51.100.30/32", "edge"),
    ]
    .iter()
    .map(|(p, pool)| labelled_route(p, "192.0.2.1", &format!("pool = \"{pool}\"")))
    .collect();
    let plugins = format!("[plugins.announce]\npath = \"{}\"\n", a_path.display());
    let config = plugin_config(&lab, &plugins, &routes);
    let gw = Gracewire::start(&lab, &config);
    wait_for("4 routes at the peer", T, || {
        (gobgp.routes().len() == 4).then_some(())
    });
    let ages = gobgp.ages();
    std::thread::sleep(Duration::from_millis(1500)); // so a re-sent path would get a new age

    // Each advertised route names its decider: the reference plugin's `default` rule (no rule
    // in its config), with the version in service.
    let version = gw.show("plugins")["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "announce")
        .unwrap()["version"]
        .clone();
    assert!(version.as_str().is_some_and(|v| v.len() == 16), "{version}");
    let advertised = gw.show("advertised")["routes"].as_array().unwrap().clone();
    assert_eq!(advertised.len(), 4);
    for r in &advertised {
        let by = &r["decided_by"];
        assert_eq!(
            by,
            &serde_json::json!([{"by": "announce", "version": version, "rule": "default", "fallback": false}]),
            "{r}"
        );
    }

    // A config change planned: a named rule gives the `edge` pool a MED. The plan says which
    // rule decided the route before and which would now.
    let with_rule = format!(
        "{plugins}[plugins.announce.config]\n[[plugins.announce.config.rules]]\nname = \"edge-med\"\npools = [\"edge\"]\nmed = 50\n"
    );
    let candidate = lab.path("candidate.toml");
    let state_dir = lab.path("gracewire-state");
    let text = plugin_config(&lab, &with_rule, &routes)
        .replace("{state_dir}", state_dir.to_str().unwrap());
    std::fs::write(&candidate, text).unwrap();
    let (ok, text) = plan(&gw, &["--config", candidate.to_str().unwrap(), "--json"]);
    assert!(ok, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    let change = &report["peers"][0]["change"];
    assert_eq!(change.as_array().map(Vec::len), Some(1), "{report:#}");
    assert_eq!(change[0]["route"]["prefix"], "198.51.100.30/32");
    assert_eq!(change[0]["route"]["decided_by"][0]["rule"], "edge-med");
    let short = &version.as_str().unwrap()[..8];
    assert_eq!(
        change[0]["differences"],
        serde_json::json!([
            "MED: - -> 50",
            format!("decided by: announce@{short}:default -> announce@{short}:edge-med")
        ]),
        "{report:#}"
    );
    let (ok, table) = plan(&gw, &["--config", candidate.to_str().unwrap()]);
    assert!(ok, "{table}");
    println!("{table}");
    assert!(
        table.contains(&format!("announce@{short}:edge-med")),
        "{table}"
    );

    // The plan: the fixture skips `pool = private`.
    let fixture = skip_private.to_string_lossy();
    let (ok, text) = plan(&gw, &["--plugin", &format!("announce={fixture}"), "--json"]);
    assert!(ok, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    let peer = &report["peers"][0];
    assert_eq!(peer["peer"], "peer");
    let mut withdraw: Vec<String> = serde_json::from_value(peer["withdraw"].clone()).unwrap();
    withdraw.sort();
    assert_eq!(
        withdraw,
        ["198.51.100.20/32", "198.51.100.21/32"],
        "{report:#}"
    );
    assert_eq!(peer["announce"], Value::Array(vec![]), "{report:#}");
    assert_eq!(peer["change"], Value::Array(vec![]), "{report:#}");
    assert_eq!(peer["unchanged"], 2);
    let (ok, table) = plan(&gw, &["--plugin", &format!("announce={fixture}")]);
    assert!(ok, "{table}");
    println!("{table}");
    assert!(table.contains("peer: - 198.51.100.20/32"), "{table}");

    // Planning applied nothing: the peer still has every route, none re-sent.
    assert_eq!(gobgp.ages(), ages, "a plan sends nothing");

    // A candidate that a swap would refuse gets the swap's error.
    let not_wasm = lab.path("broken.wasm");
    std::fs::write(&not_wasm, b"not a component").unwrap();
    let (ok, text) = plan(
        &gw,
        &["--plugin", &format!("announce={}", not_wasm.display())],
    );
    assert!(!ok, "{text}");
    assert!(text.contains("would be rejected by a swap"), "{text}");
    assert!(text.contains("not a valid WebAssembly component"), "{text}");

    // The swap does what was planned, exactly.
    install(&skip_private, &a_path);
    wait_for("the planned withdrawals at the peer", T, || {
        (gobgp.routes().len() == 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let after = gobgp.ages();
    let mut gone: Vec<&String> = ages.keys().filter(|p| !after.contains_key(*p)).collect();
    gone.sort();
    assert_eq!(gone, withdraw.iter().collect::<Vec<_>>());
    for (p, age) in &after {
        assert_eq!(*age, ages[p], "{p}: planned unchanged, and not re-sent");
    }
    assert_eq!(gobgp.opens_received(), 1, "same session throughout");
}
