//! Announcements set by a controller (issue 27), against FRR: `gracewire announce set` puts
//! 1,000 routes beside the config's, they survive 10 SIGTERM restarts and 10 takeovers with
//! not one poll of FRR missing any of them, `delete` withdraws only what it names, and a bad
//! request is refused whole with the field named while FRR keeps every route.

use gracewire_e2e::frr::Frr;
use gracewire_e2e::{wait_for, Gracewire, Lab, Router};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const SUITE: u8 = 53;
const GW_ASN: u32 = 64512;
const ROUTES: u32 = 1000;
const T: Duration = Duration::from_secs(30);

fn config(lab: &Lab, peer: Ipv4Addr) -> String {
    format!(
        r#"[global]
asn = {GW_ASN}
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"
restart_time = 120

[[peers]]
name = "frr"
address = "{peer}"
asn = 65002
local_address = "{gw}"
hold_time = 9
connect_retry = 1

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"
"#,
        gw = lab.addr(1),
    )
}

/// The controller's routes: 100.64.0.0/32 and on, as a JSON file for `--file`.
fn entries(lab: &Lab, n: u32) -> std::path::PathBuf {
    let entries: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let prefix = format!("{}/32", Ipv4Addr::from(0x6440_0000 + i));
            serde_json::json!({"prefix": prefix, "next_hop": "192.0.2.1", "communities": ["64512:27"]})
        })
        .collect();
    let path = lab.path(&format!("entries-{n}.json"));
    std::fs::write(&path, serde_json::to_vec(&entries).unwrap()).unwrap();
    path
}

fn gracewire_fails(gw: &Gracewire, args: &[&str]) -> String {
    let out = Command::new(gracewire_e2e::gracewire::binary())
        .args(args)
        .arg("--socket")
        .arg(&gw.socket)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_controllers_thousand_routes_outlive_restarts_and_takeovers() {
    let lab = Lab::new(SUITE);
    let mut frr = Frr::new(&lab, lab.spec(2, 65002, GW_ASN));
    frr.start();
    let mut gw = Gracewire::start(&lab, &config(&lab, lab.addr(2)));
    gw.wait_established("frr", T);
    wait_for("FRR has the config's route", T, || {
        (frr.route_count() == 1).then_some(())
    });

    let file = entries(&lab, ROUTES);
    let out = gw.cli(&[
        "announce",
        "set",
        "--source",
        "ctl",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        out.trim(),
        "source ctl: 1000 announcements (1000 added, 0 changed, 0 withdrawn)"
    );
    let all = ROUTES as usize + 1;
    wait_for("FRR has the controller's routes", T, || {
        (frr.route_count() == all).then_some(())
    });

    let (polls, short) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let done = AtomicBool::new(false);
    let router: &dyn Router = &frr;
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                polls.fetch_add(1, Ordering::SeqCst);
                if router.route_count() < all {
                    short.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        for round in 0..20 {
            if round % 2 == 0 {
                gw.process.stop("TERM", Duration::from_secs(10));
                std::thread::sleep(Duration::from_millis(500));
                gw.restart();
            } else {
                gw.upgrade();
            }
            gw.wait_established("frr", T);
            let listed = gw.cli(&["announce", "list", "--source", "ctl", "--json"]);
            let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
            let n = listed["sources"][0]["announcements"]
                .as_array()
                .map(Vec::len);
            assert_eq!(n, Some(ROUTES as usize), "round {round}: the source kept");
        }
        done.store(true, Ordering::SeqCst);
    });
    let (polls, short) = (polls.into_inner(), short.into_inner());
    println!("10 restarts + 10 takeovers with {ROUTES} API routes: FRR short of them in {short} of {polls} polls");
    assert_eq!(short, 0, "FRR never missed a route");
    assert!(
        polls >= 20,
        "polled throughout, about once a round at least ({polls})"
    );
    let restored = gw.process.log_text();
    assert!(
        restored.contains("restored from state_dir"),
        "the next process read the kept sources"
    );

    // A bad entry refuses the whole request, the field named; FRR keeps every route.
    let bad = lab.path("bad.json");
    std::fs::write(
        &bad,
        r#"[{"prefix": "100.100.0.0/32"}, {"prefix": "100.100.0.1/31"}]"#,
    )
    .unwrap();
    let e = gracewire_fails(
        &gw,
        &[
            "announce",
            "add",
            "--source",
            "ctl",
            "--file",
            bad.to_str().unwrap(),
        ],
    );
    assert!(
        e.contains(
            "INVALID_ARGUMENT: announcements[1].prefix: prefix `100.100.0.1/31` has host bits set"
        ),
        "{e}"
    );
    let e = gracewire_fails(
        &gw,
        &["announce", "add", "--source", "other", "198.51.100.10/32"],
    );
    assert!(e.contains("is announced by source `config`"), "{e}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        frr.route_count(),
        all,
        "nothing of the refused requests applied"
    );

    // Delete withdraws only what it names.
    let out = gw.cli(&[
        "announce",
        "delete",
        "--source",
        "ctl",
        "100.64.0.0/32",
        "100.64.0.1/32",
    ]);
    assert!(
        out.contains("998 announcements (0 added, 0 changed, 2 withdrawn)"),
        "{out}"
    );
    wait_for("FRR withdrew the two", T, || {
        (frr.route_count() == all - 2).then_some(())
    });
    let table = gw.cli(&["announce", "list"]);
    assert!(
        table.lines().next().unwrap().starts_with("SOURCE"),
        "{table}"
    );
    assert!(
        table.contains("config") && table.contains("198.51.100.10/32"),
        "{table}"
    );
    assert!(
        table.contains("ctl")
            && table.contains("100.64.0.2/32")
            && !table.contains("100.64.0.1/32 "),
        "{table}"
    );
}
