//! The operator's commands against real routers: route refresh each way and both (the default)
//! with FRR and gobgpd, a bad config on SIGHUP refused with `check`'s message,
//! and `show neighbors PEER` describing what was negotiated.

use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::gracewire::binary;
use gracewire_e2e::{wait_for, Gracewire, Lab, PeerSpec, Router};
use std::process::Command;
use std::time::Duration;

const SUITE: u8 = 32;
const T: Duration = Duration::from_secs(30);

fn config(spec: &PeerSpec, hold_time: u16) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "tor"
address = "{peer}"
asn = {asn}
local_address = "{gw}"
hold_time = {hold_time}
connect_retry = 1

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"

[[announce]]
prefix = "2001:db8:100::/64"
next_hop = "2001:db8::1"
"#,
        gw = spec.gracewire_addr,
        peer = spec.addr,
        asn = spec.asn,
    )
}

fn counter(gw: &Gracewire, field: &str) -> u64 {
    gw.neighbor("tor")[field].as_u64().unwrap()
}

fn spec(lab: &Lab, asn: u32) -> PeerSpec {
    let mut s = lab.spec(2, asn, 64512);
    s.originate = vec![("203.0.113.0/24".into(), "192.0.2.2".into())];
    s
}

#[test]
fn route_refresh_both_ways_with_frr_and_show_neighbors_tells_what_was_negotiated() {
    let lab = Lab::new(SUITE);
    let mut frr = Frr::new(&lab, spec(&lab, 65002));
    frr.start();
    let gw = Gracewire::start(&lab, &config(frr.spec(), 9));
    gw.wait_established("tor", T);
    wait_for("FRR's route", T, || {
        gw.has_route("tor", "203.0.113.0/24").then_some(())
    });
    let stats = |f: &Frr, k: &str| f.neighbor_json()["messageStats"][k].as_u64().unwrap_or(0);

    // --in: FRR is asked (ROUTE-REFRESH) and sends its routes again.
    let (asked, received) = (
        stats(&frr, "routeRefreshRecv"),
        counter(&gw, "updates_received"),
    );
    let said = gw.cli(&["refresh", "tor", "--in"]);
    assert!(said.contains("asked for its routes again"), "{said}");
    wait_for("FRR got our ROUTE-REFRESH and answered", T, || {
        (stats(&frr, "routeRefreshRecv") > asked && counter(&gw, "updates_received") > received)
            .then_some(())
    });
    // --out: FRR gets our table again, without a reset.
    let updates = stats(&frr, "updatesRecv");
    gw.cli(&["refresh", "tor", "--out"]);
    wait_for("FRR got our table again", T, || {
        (stats(&frr, "updatesRecv") > updates).then_some(())
    });
    // Neither flag: both ways, a ROUTE-REFRESH to FRR and our table again.
    let (asked, updates) = (stats(&frr, "routeRefreshRecv"), stats(&frr, "updatesRecv"));
    gw.cli(&["refresh", "tor"]);
    wait_for("FRR asked and given our table again", T, || {
        (stats(&frr, "routeRefreshRecv") > asked && stats(&frr, "updatesRecv") > updates)
            .then_some(())
    });
    // FRR's `clear bgp soft in` asks us; we answer from the Adj-RIB-Out.
    let sent = counter(&gw, "updates_sent");
    frr.vtysh(&[&format!("clear bgp {} soft in", frr.spec().gracewire_addr)])
        .unwrap();
    wait_for("our answer to FRR's ROUTE-REFRESH", T, || {
        (counter(&gw, "updates_sent") > sent).then_some(())
    });
    assert!(gw
        .process
        .log_text()
        .contains("Adj-RIB-Out sent again (route refresh)"));
    assert_eq!(
        gw.neighbor("tor")["state"],
        "Established",
        "no reset at any point"
    );

    let detail = gw.cli(&["show", "neighbors", "tor"]);
    for expected in [
        "state:                Established for",
        "families:             ipv4-unicast, ipv6-unicast",
        "4-octet AS:           yes",
        "route refresh:        yes (enhanced: yes)",
        "GR sent:              R=0 N=1 restart time 120 s; ipv4-unicast F=1, ipv6-unicast F=1",
        "N=1 restart time 120 s; ipv4-unicast F=1, ipv6-unicast F=1\nEnd-of-RIB received:  ipv4-unicast, ipv6-unicast",
    ] {
        assert!(
            detail.contains(expected),
            "missing `{expected}` in\n{detail}"
        );
    }
    assert!(!detail.contains("warning"), "{detail}");
    let table = gw.cli(&["show", "neighbors"]);
    let row = table.lines().nth(1).unwrap();
    assert!(
        row.starts_with("tor ") && row.contains("Established") && row.contains("120s"),
        "{table}"
    );
    let routes = gw.cli(&["show", "routes", "--peer", "tor", "203.0.113.7"]);
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with("*") && l.contains("203.0.113.0/24")),
        "{routes}"
    );

    // A config that does not validate: SIGHUP logs the message `check` prints for it, and
    // the running config stays.
    let bad = config(frr.spec(), 9).replace(
        "connect_retry = 1",
        "connect_retry = 1\nmax_prefix_warning = 0",
    );
    gw.write_config(&bad, &lab);
    let out = Command::new(binary())
        .args(["check", "-c"])
        .arg(&gw.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = stderr
        .trim()
        .strip_prefix("gracewire: ")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(said.contains("max_prefix_warning"), "{said}");
    gw.process.signal("HUP");
    let expected = format!("config reload rejected, running config unchanged: {said}");
    let deadline = std::time::Instant::now() + T;
    while !gw.process.log_text().contains(&expected) {
        assert!(
            std::time::Instant::now() < deadline,
            "no `{expected}` in the log:\n{}",
            gw.process.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(gw.neighbor("tor")["state"], "Established");

    // A settings change waits for the next OPEN, and `show neighbors PEER` says so.
    gw.reload(&config(frr.spec(), 30), &lab);
    wait_for("pending setting shown", T, || {
        gw.cli(&["show", "neighbors", "tor"])
            .contains("at the next OPEN:     hold time 9 s -> 30 s")
            .then_some(())
    });
}

#[test]
fn route_refresh_with_gobgpd_and_a_warning_without_graceful_restart() {
    let lab = Lab::new(SUITE);
    let mut spec = spec(&lab, 65001);
    spec.graceful_restart = false;
    let mut gobgp = GoBgp::new(&lab, spec);
    gobgp.start();
    let gw = Gracewire::start(&lab, &config(gobgp.spec(), 9));
    gw.wait_established("tor", T);
    wait_for("gobgpd's route", T, || {
        gw.has_route("tor", "203.0.113.0/24").then_some(())
    });
    let refresh = |g: &GoBgp, dir: &str| {
        g.neighbor_json()["state"]["messages"][dir]["refresh"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = refresh(&gobgp, "received");
    gw.cli(&["refresh", "tor", "--in"]);
    wait_for("gobgpd got our ROUTE-REFRESH", T, || {
        (refresh(&gobgp, "received") > before).then_some(())
    });
    // gobgpd keeps what it received, so its `softresetin` asks nothing; `softresetout` sends
    // us its table again.
    let received = counter(&gw, "updates_received");
    let addr = gobgp.spec().gracewire_addr.to_string();
    assert!(gobgp
        .cli_run(&["neighbor", &addr, "softresetout"])
        .is_some());
    wait_for("gobgpd's table again", T, || {
        (counter(&gw, "updates_received") > received).then_some(())
    });
    let updates = |g: &GoBgp| {
        g.neighbor_json()["state"]["messages"]["received"]["update"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = updates(&gobgp);
    gw.cli(&["refresh", "tor", "--out"]);
    wait_for("gobgpd got our table again", T, || {
        (updates(&gobgp) > before).then_some(())
    });
    let detail = gw.cli(&["show", "neighbors", "tor"]);
    assert!(detail.contains("GR received:          none"), "{detail}");
    assert!(
        detail.contains("warning: Graceful Restart not negotiated both ways: a restart of gracewire withdraws every route at this peer"),
        "{detail}"
    );
}

/// `asn = "external"` (FRR's `remote-as external`): any AS but ours, learned from FRR's OPEN
/// and shown; `"internal"` refuses FRR's AS with Bad Peer AS (2/2).
#[test]
fn a_peer_by_as_kind_learns_frrs_as_and_the_other_kind_is_refused() {
    let lab = Lab::new(SUITE);
    let mut frr = Frr::new(&lab, spec(&lab, 65002));
    frr.start();
    let by_kind =
        |kind: &str| config(frr.spec(), 9).replace("asn = 65002", &format!("asn = \"{kind}\""));
    let gw = Gracewire::start(&lab, &by_kind("external"));
    gw.wait_established("tor", T);
    let tor = gw.neighbor("tor");
    assert_eq!(tor["asn"], 65002, "{tor}");
    assert_eq!(tor["remote_as"], "external", "{tor}");
    let table = gw.cli(&["show", "neighbors"]);
    assert!(table.contains("65002 (external)"), "{table}");
    wait_for("our route at FRR", T, || {
        frr.routes()
            .iter()
            .any(|r| r.prefix == "198.51.100.10/32")
            .then_some(())
    });

    // Internal: a new session (the AS setting changed), and FRR's OPEN is refused.
    gw.reload(&by_kind("internal"), &lab);
    wait_for("FRR's AS refused, the reason shown", T, || {
        let tor = gw.neighbor("tor");
        tor["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("sent OPEN message error, bad peer AS (2/2)"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(gw.state("tor"), "Established");
    assert_eq!(gw.neighbor("tor")["asn"], 64512, "internal: ours");
}
