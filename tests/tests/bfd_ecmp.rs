//! BFD and Graceful Restart together, on the data plane. In network namespaces:
//!
//! ```text
//!                                               ┌── speaker a (gracewire + echo on the VIP)
//!   client ──203.0.113.0/30── router ── switch ─┤      192.0.2.2
//!                       (FRR zebra+bgpd+bfdd,   └── speaker b (gracewire + echo on the VIP)
//!                        ECMP over both paths)         192.0.2.3
//! ```
//! Both speakers announce 198.51.100.10/32; the router installs it with two next hops and
//! spreads connections by port (`fib_multipath_hash_policy = 1`). The speakers hang off a bridge,
//! so one losing its link does not take the router's interface down: only BFD can tell.
//!
//! - 20 planned restarts (SIGTERM, 1 s down), alternating speakers, under 20 long-lived
//!   connections: none reset, nothing lost, the VIP never leaves the router's table.
//! - A speaker's link lost, then a speaker frozen (SIGSTOP of gracewire and its echo server):
//!   the router drops that path within
//!   BFD's detection time (300 ms × 3) and new connections all land on the other speaker. The
//!   outage is measured with a connection every 20 ms.
//! - The same freeze without BFD lasts the hold time and then the restart time, as GR keeps
//!   the frozen speaker's path.
//! - Health checks (issue 26): a speaker's echo server killed, the node up. With a tcp check
//!   of it (100 ms, fall 3), the router drops that path within the bound and new connections
//!   stop failing; with the server back, both paths return. Without a check, the same kill
//!   fails every connection hashed to that speaker until the test ends.

use gracewire_e2e::frr_ns::FrrNs;
use gracewire_e2e::netns::Netns;
use gracewire_e2e::{run, wait_for, Gracewire, Lab, Process, NO_RETRANSMISSION_STALL_MS};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SUITE: u8 = 41;
const VIP: &str = "198.51.100.10";
const T: Duration = Duration::from_secs(30);
const SPEAKERS: [&str; 2] = ["192.0.2.2", "192.0.2.3"];

/// One measurement at a time: outages of a second are what is measured, and two topologies
/// starting side by side on two cores would measure each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bgpd_conf(bfd: bool) -> String {
    let neighbors: String = SPEAKERS
        .iter()
        .map(|s| {
            let bfd = if bfd {
                format!(" neighbor {s} bfd\n neighbor {s} bfd profile fast\n")
            } else {
                String::new()
            };
            format!(
                " neighbor {s} remote-as 64512\n neighbor {s} timers 3 9\n neighbor {s} timers connect 1\n{bfd}"
            )
        })
        .collect();
    let activate: String = SPEAKERS
        .iter()
        .map(|s| format!("  neighbor {s} activate\n"))
        .collect();
    format!(
        "frr defaults traditional\nhostname router\ndebug bgp neighbor-events\ndebug bgp bfd\n\
         router bgp 65001\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n \
         bgp graceful-restart\n{neighbors} address-family ipv4 unicast\n  maximum-paths 2\n{activate} exit-address-family\n"
    )
}

const BFDD_CONF: &str =
    "bfd\n profile fast\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n";

/// Every 100 ms, rise = fall = 3: withdrawn within 400 ms of the server's death.
const ECHO_CHECK: &str = "[health_checks.echo]\nkind = \"tcp\"\naddress = \"198.51.100.10:7000\"\n\
                          interval_ms = 100\ntimeout_ms = 50\nrise = 3\nfall = 3\n";

fn speaker_conf(addr: &str, bfd: bool, restart_time: u16, health: bool) -> String {
    let (profile, peer_bfd) = if bfd {
        (
            "[bfd_profiles.fast]\nreceive_interval_ms = 300\ntransmit_interval_ms = 300\ndetect_multiplier = 3\n",
            "bfd = \"fast\"\n",
        )
    } else {
        ("", "")
    };
    format!(
        r#"[global]
asn = 64512
router_id = "{addr}"
listen = "{addr}:179"
state_dir = "{{state_dir}}"
restart_time = {restart_time}

{profile}
[[peers]]
name = "router"
address = "192.0.2.1"
local_address = "{addr}"
asn = 65001
hold_time = 9
connect_retry = 1
families = ["ipv4-unicast"]
{peer_bfd}
[[announce]]
prefix = "{VIP}/32"
next_hop = "{addr}"
{gate}
{check}"#,
        gate = if health { "health = \"echo\"" } else { "" },
        check = if health { ECHO_CHECK } else { "" },
    )
}

struct Speaker {
    ns: Netns,
    gw: Gracewire,
    /// The service behind the VIP (killed when dropped).
    echo: Option<Process>,
    /// Its port on the switch: down is a lost link.
    port: String,
    lab: Lab,
}

/// The speaker's echo server on the VIP, port 7000.
fn start_echo(ns: &Netns, lab: &Lab) -> Process {
    let echo = Process::spawn(
        ns.command(env!("CARGO_BIN_EXE_gw-echo"))
            .args(["server", &format!("{VIP}:7000")]),
        &lab.path("echo.log"),
    );
    wait_for("the echo server listening", T, || {
        echo.log_text().contains("listening").then_some(())
    });
    echo
}

struct Topology {
    client: Netns,
    router: Netns,
    switch: Netns,
    speakers: Vec<Speaker>,
    frr: FrrNs,
    _lab: Lab,
}

/// A veth from `ns` (addressed `addr`) to a port of the switch's bridge.
fn attach(switch: &Netns, ns: &Netns, name: &str, addr: &str) -> String {
    let (inner, port) = (format!("{name}i"), format!("{name}p"));
    run(Command::new("ip").args([
        "link",
        "add",
        &inner,
        "netns",
        &ns.name,
        "type",
        "veth",
        "peer",
        "name",
        &port,
        "netns",
        &switch.name,
    ]));
    ns.exec(&["ip", "addr", "add", addr, "dev", &inner]);
    ns.exec(&["ip", "link", "set", &inner, "up"]);
    switch.exec(&["ip", "link", "set", &port, "master", "br0", "up"]);
    port
}

fn topology(tag: &str, bfd: bool, restart_time: u16, health: bool) -> Topology {
    let lab = Lab::new(SUITE);
    let n = lab.net[2];
    let name = |role: &str| format!("gwe{role}{n}{tag}");
    let (client, router, switch) = (
        Netns::new(&name("c")),
        Netns::new(&name("r")),
        Netns::new(&name("w")),
    );
    client.link(
        &router,
        &format!("ve{n}{tag}c"),
        "203.0.113.1/30",
        "203.0.113.2/30",
    );
    client.exec(&["ip", "route", "add", "default", "via", "203.0.113.2"]);
    switch.exec(&["ip", "link", "add", "br0", "type", "bridge"]);
    switch.exec(&["ip", "link", "set", "br0", "up"]);
    attach(&switch, &router, &format!("ve{n}{tag}r"), "192.0.2.1/24");
    router.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // Spread connections over the ECMP paths by port, as a load balancer's clients would be.
    router.exec(&["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"]);
    let bfdd = bfd.then_some(BFDD_CONF);
    let frr = FrrNs::start(&lab, &router, tag, &bgpd_conf(bfd), bfdd);

    let speakers = SPEAKERS
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let ns = Netns::new(&name(&format!("s{i}")));
            let port = attach(
                &switch,
                &ns,
                &format!("ve{n}{tag}{i}"),
                &format!("{addr}/24"),
            );
            ns.exec(&["ip", "route", "add", "default", "via", "192.0.2.1"]);
            ns.exec(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
            let lab = Lab::new(SUITE);
            let echo = start_echo(&ns, &lab);
            let conf = speaker_conf(addr, bfd, restart_time, health);
            let gw = Gracewire::start_in(&lab, &conf, Some(&ns.name));
            Speaker {
                ns,
                gw,
                echo: Some(echo),
                port,
                lab,
            }
        })
        .collect();
    let topo = Topology {
        client,
        router,
        switch,
        speakers,
        frr,
        _lab: lab,
    };
    for s in &topo.speakers {
        s.gw.wait_established("router", T);
    }
    wait_for("the VIP over both paths", T, || {
        (paths(&topo.router) == 2).then_some(())
    });
    if bfd {
        for addr in SPEAKERS {
            wait_for("BFD Up at the router", T, || {
                (topo.frr.bfd_peer(addr)["status"] == "up").then_some(())
            });
        }
    }
    topo
}

/// Next hops of the VIP's route in the router's kernel table (0: no route).
fn paths(router: &Netns) -> usize {
    let route = router.exec(&["ip", "route", "show", &format!("{VIP}/32")]);
    if !route.contains("proto bgp") {
        return 0;
    }
    route.matches("nexthop via").count().max(1)
}

fn spawn_in(ns: &Netns, args: &[String]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_gw-echo")])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn output(child: Child) -> Value {
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("gw-echo: {}", String::from_utf8_lossy(&out.stdout)))
}

/// New connections every 20 ms for `seconds`, while `fail` breaks a path after 2 s; returns
/// the probe's report and how long after the failure the router was down to one path.
fn outage(topo: &Topology, seconds: u64, fail: impl FnOnce()) -> (Value, Option<Duration>) {
    let probe = spawn_in(
        &topo.client,
        &[
            "probe".into(),
            format!("{VIP}:7000"),
            "20".into(),
            seconds.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    let failed = Instant::now();
    fail();
    let limit = Duration::from_secs(seconds - 3);
    let one_path = loop {
        if paths(&topo.router) == 1 {
            break Some(failed.elapsed());
        }
        if failed.elapsed() > limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (output(probe), one_path)
}

/// Signals every process of a speaker's namespace: gracewire and its echo server, a whole node
/// frozen (SIGSTOP) or thawed (SIGCONT).
fn signal_node(s: &Speaker, sig: &str) {
    for pid in run(Command::new("ip").args(["netns", "pids", &s.ns.name])).split_whitespace() {
        run(Command::new("kill").args([&format!("-{sig}"), pid]));
    }
}

/// What both sides logged about BFD, for a failure's report.
fn dump_bfd_logs(topo: &Topology) {
    let bfd = |l: &&str| l.contains("BFD") || l.contains("bfd") || l.contains("state change");
    for l in topo.frr.log().lines().filter(bfd) {
        println!("FRR| {l}");
    }
    for (i, sp) in topo.speakers.iter().enumerate() {
        for l in sp.gw.process.log_text().lines().filter(bfd) {
            println!("GW{i}| {l}");
        }
    }
}

fn wait_both_paths(topo: &Topology) {
    for s in &topo.speakers {
        s.gw.wait_established("router", T);
    }
    wait_for("the VIP over both paths again", T, || {
        (paths(&topo.router) == 2).then_some(())
    });
}

#[test]
fn ecmp_speakers_restart_twenty_times_losing_nothing_and_a_dead_one_is_dropped_within_the_detection_time(
) {
    let _serial = serial();
    let mut topo = topology("b", true, 120, false);

    // 20 planned restarts, alternating, under 20 connections with a message every 10 ms.
    const ROUND: Duration = Duration::from_secs(3);
    let client = spawn_in(
        &topo.client,
        &[
            "client".into(),
            format!("{VIP}:7000"),
            "20".into(),
            "10".into(),
            (3 + 20 * 3 + 10).to_string(),
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    let (stop, polls, missing, one_path) = (
        AtomicBool::new(false),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let bfd_downs = |topo: &Topology| topo.frr.log().matches("(Cease/BFD Down)").count();
    // FRR replaces its BFD session once BGP first comes up (bgpd tells bfdd the source
    // address). gracewire waits for a Down the router says, but when the replacement lands
    // just after BFD came up FRR's own bgpd ends that first session (seen in some runs): the
    // restarts are counted from here.
    let bfd_downs_at_setup = bfd_downs(&topo);
    println!("BFD Downs at setup (FRR's own, on its first session): {bfd_downs_at_setup}");
    let started = Instant::now();
    std::thread::scope(|s| {
        let router = &topo.router;
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                polls.fetch_add(1, Ordering::SeqCst);
                match paths(router) {
                    0 => missing.fetch_add(1, Ordering::SeqCst),
                    1 => one_path.fetch_add(1, Ordering::SeqCst),
                    _ => 0,
                };
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        for round in 0..20 {
            let at = Instant::now();
            let gw = &mut topo.speakers[round % 2].gw;
            gw.process.stop("TERM", Duration::from_secs(10));
            std::thread::sleep(Duration::from_secs(1));
            gw.restart();
            gw.wait_established("router", T);
            std::thread::sleep(ROUND.saturating_sub(at.elapsed()));
        }
        stop.store(true, Ordering::SeqCst);
    });
    let restarts_took = started.elapsed();
    let client = output(client);
    let (polls, missing, one_path) = (
        polls.into_inner(),
        missing.into_inner(),
        one_path.into_inner(),
    );
    println!("20 planned restarts in {restarts_took:?}: {client}; the VIP missing in {missing} of {polls} polls, on one path in {one_path}");
    assert!(
        restarts_took < Duration::from_secs(3 + 20 * 3 + 9),
        "the client ran past the restarts"
    );
    assert_eq!(
        client["resets"], 0,
        "a planned restart resets no connection"
    );
    assert_eq!(client["lost"], 0);
    assert!(
        client["sent"].as_u64().unwrap() > 20 * 5000,
        "traffic flowed: {client}"
    );
    assert_eq!(missing, 0, "the VIP never left the router's table");
    assert_eq!(one_path, 0, "the VIP on both paths in every poll");
    let stall = client["max_stall_ms"].as_u64().unwrap();
    assert!(
        stall < NO_RETRANSMISSION_STALL_MS,
        "longest echo stall {stall} ms: as long as a lost segment's retransmission"
    );
    if bfd_downs(&topo) != bfd_downs_at_setup {
        dump_bfd_logs(&topo);
    }
    assert_eq!(
        bfd_downs(&topo),
        bfd_downs_at_setup,
        "no restart looked like a failure to the router"
    );

    // Speaker b loses its link: only BFD can tell (the router's own link stays up).
    let (probe, dropped) = outage(&topo, 8, || {
        topo.switch
            .exec(&["ip", "link", "set", &topo.speakers[1].port, "down"]);
    });
    println!("link lost: the router down to one path after {dropped:?}; probes {probe}");
    let dropped = dropped.expect("the router kept the dead path");
    assert!(
        dropped < Duration::from_millis(1500),
        "{dropped:?}, detection time 900 ms"
    );
    assert!(
        probe["failure_span_ms"].as_u64().unwrap() < 1500,
        "outage: {probe}"
    );
    assert!(
        probe["failed"].as_u64().unwrap() > 0,
        "the failure was seen at all: {probe}"
    );
    topo.switch
        .exec(&["ip", "link", "set", &topo.speakers[1].port, "up"]);
    wait_both_paths(&topo);

    // Speaker a frozen, the nearest a test gets to a dead node.
    std::thread::sleep(Duration::from_secs(3));
    let (probe, dropped) = outage(&topo, 8, || signal_node(&topo.speakers[0], "STOP"));
    signal_node(&topo.speakers[0], "CONT");
    println!("frozen: the router down to one path after {dropped:?}; probes {probe}");
    let dropped = dropped.expect("the router kept the frozen path");
    assert!(dropped < Duration::from_millis(1500), "{dropped:?}");
    assert!(
        probe["failure_span_ms"].as_u64().unwrap() < 1500,
        "outage: {probe}"
    );
    let _ = &topo.speakers[0].ns;
}

#[test]
fn without_bfd_a_frozen_speaker_costs_the_hold_time_and_then_the_restart_time() {
    let _serial = serial();
    let topo = topology("n", false, 10, false);
    std::thread::sleep(Duration::from_secs(2));
    let (probe, dropped) = outage(&topo, 30, || signal_node(&topo.speakers[1], "STOP"));
    signal_node(&topo.speakers[1], "CONT");
    println!("without BFD, frozen: the router down to one path after {dropped:?}; probes {probe}");
    let dropped = dropped.expect("dropped once hold time and restart time ran out");
    // The router's hold timer (9 s) runs from the last KEEPALIVE it got, sent up to one
    // keepalive interval (3 s) before the freeze, so it expires 6-9 s in; GR then keeps the
    // path for the restart time (10 s): 16-19 s, with 1 s left for scheduling under CI load.
    let earliest = Duration::from_secs(9 - 3 + 10 - 1);
    assert!(
        dropped >= earliest,
        "hold time, then GR keeps the path for the restart time (10 s): {dropped:?}"
    );
    assert!(
        probe["failure_span_ms"].as_u64().unwrap() >= earliest.as_millis() as u64 - 1_000,
        "{probe}"
    );
}

/// Kills speaker 1's echo server (the node and its BGP session stay up) while new connections
/// run every 20 ms for `seconds`; returns the probe's report and when the router was down to
/// one path.
fn backend_killed(topo: &mut Topology, seconds: u64) -> (Value, Option<Duration>) {
    let echo = topo.speakers[1].echo.take();
    outage(topo, seconds, move || drop(echo))
}

#[test]
fn a_dead_backend_leaves_the_routers_table_within_the_bound_and_returns_with_it() {
    let _serial = serial();
    let mut topo = topology("h", false, 120, true);
    std::thread::sleep(Duration::from_secs(2));
    let (probe, dropped) = backend_killed(&mut topo, 8);
    println!("health check: backend killed, the router down to one path after {dropped:?}; probes {probe}");
    let dropped = dropped.expect("the router kept the path to the dead backend");
    // fall × interval + 100 ms for the withdrawal, then FRR's bgpd and zebra.
    assert!(dropped < Duration::from_millis(1200), "{dropped:?}");
    let span = probe["failure_span_ms"].as_u64().unwrap();
    assert!(span < 1200, "new connections failed for {span} ms: {probe}");
    assert!(
        probe["failed"].as_u64().unwrap() > 0,
        "the kill was seen: {probe}"
    );
    assert!(topo.speakers[1].gw.show_health()[0]["status"] == "down");

    let s = &mut topo.speakers[1];
    s.echo = Some(start_echo(&s.ns, &s.lab));
    let back = Instant::now();
    wait_for("both paths again", T, || {
        (paths(&topo.router) == 2).then_some(())
    });
    println!("backend back: both paths after {:?}", back.elapsed());
    let probe = output(spawn_in(
        &topo.client,
        &[
            "probe".into(),
            format!("{VIP}:7000"),
            "20".into(),
            "3".into(),
        ],
    ));
    assert_eq!(probe["failed"], 0, "{probe}");
}

#[test]
fn without_a_health_check_a_dead_backend_fails_its_share_of_connections_until_the_end() {
    let _serial = serial();
    let mut topo = topology("x", false, 120, false);
    std::thread::sleep(Duration::from_secs(2));
    let (probe, dropped) = backend_killed(&mut topo, 8);
    let (failed, probes) = (
        probe["failed"].as_u64().unwrap(),
        probe["probes"].as_u64().unwrap(),
    );
    println!("no health check: backend killed, the router on one path after {dropped:?}; {failed} of {probes} connections failed; probes {probe}");
    assert_eq!(dropped, None, "nothing withdrew the path");
    assert_eq!(paths(&topo.router), 2);
    // Connections go out for 6 s after the kill; about half hash to the dead speaker.
    let span = probe["failure_span_ms"].as_u64().unwrap();
    assert!(span > 5000, "failures until the end: {probe}");
    assert!(
        failed * 5 > probes,
        "a share of the connections fail: {probe}"
    );
}
