//! Wasm plugins in a running gracewire with a real peer (gobgpd): a plugin file replaced on disk
//! is swapped in without touching the session, and only the routes whose outcome changed are
//! sent; every kind of broken plugin is rejected or contained, and the session never notices.

use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::plugin_lab::{install, labelled_route as route, plugin_config as config};
use gracewire_e2e::{wait_for, Gracewire, Lab, PeerRoute, Router};
use gracewire_sdk::testing::build_wasm;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

const SUITE: u8 = 25;
const T: Duration = Duration::from_secs(30);

fn ws(rel: &str) -> String {
    format!("{}/../{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// Built once per test process: (announce, communities, fixture, blackhole-tagger, gr-profiles).
fn wasm() -> &'static [PathBuf; 5] {
    static W: OnceLock<[PathBuf; 5]> = OnceLock::new();
    W.get_or_init(|| {
        [
            build_wasm(&ws("plugins/announce")),
            build_wasm(&ws("plugins/communities")),
            build_wasm(&ws("tests/plugins/fixture")),
            build_wasm(&ws("examples/blackhole-tagger")),
            build_wasm(&ws("plugins/gr-profiles")),
        ]
    })
}

fn find<'a>(routes: &'a [PeerRoute], prefix: &str) -> Option<&'a PeerRoute> {
    routes.iter().find(|r| r.prefix == prefix)
}

fn plugin_status(gw: &Gracewire, kind: &str) -> Value {
    gw.show("plugins")["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == kind)
        .cloned()
        .unwrap()
}

fn peer(lab: &Lab) -> GoBgp {
    let mut s = lab.spec(2, 65001, 64512);
    s.graceful_restart = false;
    let mut p = GoBgp::new(lab, s);
    p.start();
    p
}

#[test]
fn swapping_plugin_files_changes_only_what_changed_on_the_same_session() {
    let [announce, communities, fixture, blackhole, _] = wasm().clone();
    let lab = Lab::new(SUITE);
    let (a_path, c_path) = (lab.path("announce.wasm"), lab.path("communities.wasm"));
    install(&announce, &a_path);
    install(&communities, &c_path);
    let plugins = format!(
        "[plugins.announce]\npath = \"{}\"\n[plugins.communities]\npath = \"{}\"\nconfig = {{ rules = [{{ pools = [\"public\"], add = [\"64512:100\"] }}] }}\n",
        a_path.display(),
        c_path.display()
    );
    let routes = [
        route("198.51.100.10/32", "192.0.2.1", "pool = \"public\""),
        route(
            "198.51.100.66/32",
            "192.0.2.1",
            "pool = \"public\", blackhole = \"true\"",
        ),
        route("198.51.100.20/32", "192.0.2.1", "pool = \"private\""),
        route("2001:db8:100::/64", "2001:db8::1", "pool = \"public\""),
    ]
    .concat();
    let gobgp = peer(&lab);
    let gw = Gracewire::start(&lab, &config(&lab, &plugins, &routes));
    let r = wait_for("4 routes at the peer", T, || {
        let r = gobgp.routes();
        (r.len() == 4).then_some(r)
    });
    for p in ["198.51.100.10/32", "198.51.100.66/32", "2001:db8:100::/64"] {
        assert_eq!(find(&r, p).unwrap().communities, vec!["64512:100"], "{p}");
    }
    assert!(find(&r, "198.51.100.20/32").unwrap().communities.is_empty());
    assert_eq!(gobgp.opens_received(), 1);
    let ages = gobgp.ages();
    std::thread::sleep(Duration::from_millis(1500)); // so a re-sent path gets a new age

    // 1. A new community tagger: the example out-of-tree plugin.
    install(&blackhole, &c_path);
    let r = wait_for("new communities at the peer", T, || {
        let r = gobgp.routes();
        let bh = find(&r, "198.51.100.66/32")?;
        (bh.communities == vec!["65535:666", "65535:65281"]).then_some(r)
    });
    assert!(find(&r, "198.51.100.10/32").unwrap().communities.is_empty());
    assert!(find(&r, "2001:db8:100::/64")
        .unwrap()
        .communities
        .is_empty());
    let after = gobgp.ages();
    assert_eq!(
        after["198.51.100.20/32"], ages["198.51.100.20/32"],
        "unchanged route not re-sent"
    );
    assert_ne!(
        after["198.51.100.66/32"], ages["198.51.100.66/32"],
        "changed route re-sent"
    );
    assert_eq!(gobgp.opens_received(), 1, "same session: no new OPEN");
    let status = plugin_status(&gw, "communities");
    assert_eq!(status["swaps"], 1);
    println!(
        "communities swap: {} ms from file change to live",
        status["last_swap_ms"]
    );

    // 2. An announcement policy that drops the private pool: the peer gets that withdrawal only.
    let ages = gobgp.ages();
    std::thread::sleep(Duration::from_millis(1500));
    install(&fixture, &a_path);
    wait_for("private pool withdrawn", T, || {
        find(&gobgp.routes(), "198.51.100.20/32")
            .is_none()
            .then_some(())
    });
    let after = gobgp.ages();
    assert_eq!(after.len(), 3);
    for (p, age) in &after {
        assert_eq!(*age, ages[p], "{p} was not re-sent");
    }
    assert_eq!(gobgp.opens_received(), 1, "same session: no new OPEN");
    assert!(gobgp.established());
}

#[test]
fn broken_plugins_are_rejected_or_contained_and_the_session_never_notices() {
    let [_, communities, fixture, _, _] = wasm().clone();
    let lab = Lab::new(SUITE);
    let a_path = lab.path("announce.wasm");
    install(&fixture, &a_path);
    let plugins = |on_error: &str, config: &str| {
        format!(
            "[plugins.announce]\npath = \"{}\"\non_error = \"{on_error}\"\ntimeout_ms = 50\nmemory_limit_mb = 16\nconfig = {config}\n",
            a_path.display()
        )
    };
    let base = [
        route("198.51.100.10/32", "192.0.2.1", "pool = \"public\""),
        route("198.51.100.20/32", "192.0.2.1", "pool = \"private\""),
    ]
    .concat();
    let gobgp = peer(&lab);
    let gw = Gracewire::start(&lab, &config(&lab, &plugins("fail-closed", "{}"), &base));
    wait_for("public route at the peer", T, || {
        (gobgp.routes().len() == 1).then_some(())
    });
    let only_public = |what: &str| {
        let r = gobgp.routes();
        assert_eq!(r.len(), 1, "{what}: {r:?}");
        assert_eq!(r[0].prefix, "198.51.100.10/32", "{what}");
        assert_eq!(gobgp.opens_received(), 1, "{what}: session untouched");
    };

    // Rejected at load: the running version stays.
    let rejected = |n: u64, needle: &str| {
        let s = wait_for(&format!("rejection {n}"), T, || {
            let s = plugin_status(&gw, "announce");
            (s["rejections"] == n).then_some(s)
        });
        assert!(s["last_error"].as_str().unwrap().contains(needle), "{s}");
    };
    std::fs::write(&a_path, b"this is not a wasm component").unwrap();
    rejected(1, "not a valid WebAssembly component");
    only_public("not wasm");
    install(&communities, &a_path);
    rejected(2, "does not implement the announcement-policy world");
    only_public("wrong world");
    install(&fixture, &a_path);
    wait_for("fixture back in service", T, || {
        (plugin_status(&gw, "announce")["swaps"] == 1).then_some(())
    });
    gw.reload(
        &config(&lab, &plugins("fail-closed", "{ reject = true }"), &base),
        &lab,
    );
    rejected(3, "init rejected");
    only_public("init rejects config");

    // Contained at call time: the route that triggers the fault is not announced (fail-closed),
    // the others keep their last good outcome, the instance is made again.
    let mut made = 0;
    for (fault, needle) in [
        ("trap", "trapped"),
        ("loop", "deadline"),
        ("hog", "trapped"),
        ("wrong-length", "choices for"),
        ("bad-prepend", "prepend 99"),
        ("bad-rule", "rule name \"gold\\n\" has a control character"),
        ("bad-index", "announcement 7 of 1"),
    ] {
        let errors_before = plugin_status(&gw, "announce")["errors"].as_u64().unwrap();
        let poisoned = format!(
            "{base}{}",
            route(
                "198.51.100.99/32",
                "192.0.2.1",
                &format!("fault = \"{fault}\"")
            )
        );
        gw.reload(
            &config(&lab, &plugins("fail-closed", "{}"), &poisoned),
            &lab,
        );
        // The error count is the plugin's own (bumped on the policy thread), the last error
        // the daemon's (recorded when the result arrives): wait for both.
        let s = wait_for(&format!("{fault} counted with its cause"), T, || {
            let s = plugin_status(&gw, "announce");
            let counted = s["errors"].as_u64().unwrap() > errors_before;
            let named = s["last_error"].as_str().is_some_and(|e| e.contains(needle));
            (counted && named).then_some(s)
        });
        made = s["instantiations"].as_u64().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        only_public(fault);
    }
    // The first fault reloaded the plugin (its config changed back from the rejected one); each
    // later fault dropped the instance and the next call made a new one.
    assert!(made >= 4, "a fresh instance after each fault: {made}");

    // fail-open: a route with no last good outcome is announced as configured.
    let poisoned = format!(
        "{base}{}",
        route("198.51.100.99/32", "192.0.2.1", "fault = \"trap\"")
    );
    gw.reload(&config(&lab, &plugins("fail-open", "{}"), &poisoned), &lab);
    wait_for("fail-open announces the new route", T, || {
        find(&gobgp.routes(), "198.51.100.99/32").map(|_| ())
    });

    // Back to health: a fresh instance serves, new routes flow.
    let healthy = format!(
        "{base}{}",
        route("198.51.100.30/32", "192.0.2.1", "pool = \"public\"")
    );
    gw.reload(&config(&lab, &plugins("fail-closed", "{}"), &healthy), &lab);
    wait_for("healthy again", T, || {
        let r = gobgp.routes();
        (find(&r, "198.51.100.30/32").is_some() && find(&r, "198.51.100.99/32").is_none())
            .then_some(())
    });
    assert_eq!(gobgp.opens_received(), 1);
}

/// The GR profile plugin chooses the restart time in our OPEN; a new profile changes it at the
/// next OPEN only, never resetting the session.
#[test]
fn gr_profile_sets_the_capability_and_a_new_profile_waits_for_the_next_open() {
    let gr = wasm()[4].clone();
    let lab = Lab::new(SUITE);
    let mut spec = lab.spec(2, 65001, 64512);
    spec.graceful_restart = true;
    let mut frr = Frr::new(&lab, spec);
    frr.start();
    let plugins = |t: u16| {
        format!("[plugins.gr]\npath = \"{}\"\nconfig = {{ peers = {{ peer = {{ restart_time = {t} }} }} }}\n", gr.display())
    };
    let cfg = |t: u16| {
        config(
            &lab,
            &plugins(t),
            &route("198.51.100.10/32", "192.0.2.1", "pool = \"public\""),
        )
        .replace("graceful_restart = false", "graceful_restart = true")
    };
    let gw = Gracewire::start(&lab, &cfg(77));
    let received = |f: &Frr| {
        f.neighbor_json()["gracefulRestartInfo"]["timers"]["receivedRestartTimer"].as_u64()
    };
    wait_for("FRR sees the profile's restart time", T, || {
        (frr.established() && received(&frr) == Some(77)).then_some(())
    });
    let uptime = gw.neighbor("peer")["uptime_secs"].as_u64().unwrap();
    gw.reload(&cfg(66), &lab);
    wait_for("new profile loaded", T, || {
        (plugin_status(&gw, "gr")["swaps"] == 1).then_some(())
    });
    wait_for("timers logged", T, || {
        gw.process
            .log_text()
            .contains("restart_time=66")
            .then_some(())
    });
    assert_eq!(
        received(&frr),
        Some(77),
        "the running session keeps its capability"
    );
    assert!(
        gw.neighbor("peer")["uptime_secs"].as_u64().unwrap() >= uptime,
        "no reset"
    );
    let out = std::process::Command::new(gracewire_e2e::gracewire::binary())
        .args(["reset", "peer", "--socket"])
        .arg(&gw.socket)
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_for("next OPEN carries 66", T, || {
        (frr.established() && received(&frr) == Some(66)).then_some(())
    });
}
