//! Data-plane continuity, the reason gracewire exists. In network namespaces:
//!
//! ```text
//!   client ──203.0.113.0/30── router (FRR zebra+bgpd, kernel routes) ──192.0.2.0/30── speaker
//!                                                                     gracewire + echo server
//!                                                                     on VIP 198.51.100.10
//! ```
//! The router reaches the VIP only through the route gracewire announces, which zebra installs in
//! the router's kernel table. Clients keep TCP connections to the VIP open and exchange a message
//! every 10 ms while gracewire restarts 20 times. With GR: no reset, nothing lost, no stall as
//! long as a TCP retransmission (200 ms), the route never leaves the kernel table. Without GR (what users suffer today): the
//! route disappears on every restart and traffic stalls for a second or more. And with GR off
//! at both ends, 20 hitless upgrades (`--takeover`) break nothing either.

use gracewire_e2e::frr_ns::FrrNs;
use gracewire_e2e::netns::Netns;
use gracewire_e2e::{wait_for, Gracewire, Lab, Process, NO_RETRANSMISSION_STALL_MS};
use serde_json::Value;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SUITE: u8 = 24;
const VIP: &str = "198.51.100.10";
const RESTARTS: usize = 20;
const GAP: Duration = Duration::from_secs(1);

struct Topology {
    client: Netns,
    router: Netns,
    speaker: Netns,
    _daemons: Vec<Process>,
    _frr: FrrNs,
}

fn frr_config(graceful_restart: bool) -> String {
    let gr = if graceful_restart {
        "bgp graceful-restart"
    } else {
        "bgp graceful-restart-disable"
    };
    format!("frr defaults traditional\nhostname router\n\
     router bgp 65001\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n \
     {gr}\n neighbor 192.0.2.2 remote-as 64512\n neighbor 192.0.2.2 timers 3 9\n \
     neighbor 192.0.2.2 timers connect 1\n address-family ipv4 unicast\n  neighbor 192.0.2.2 activate\n exit-address-family\n")
}

fn topology(lab: &Lab, tag: &str, router_gr: bool) -> Topology {
    let name = |role: &str| format!("gw{role}{}{}{tag}", lab.net[1], lab.net[2]);
    let (client, router, speaker) = (
        Netns::new(&name("c")),
        Netns::new(&name("r")),
        Netns::new(&name("s")),
    );
    let link = |l: &str| format!("v{}{}{tag}{l}", lab.net[2], l);
    client.link(&router, &link("cr"), "203.0.113.1/30", "203.0.113.2/30");
    router.link(&speaker, &link("rs"), "192.0.2.1/30", "192.0.2.2/30");
    client.exec(&["ip", "route", "add", "default", "via", "203.0.113.2"]);
    speaker.exec(&["ip", "route", "add", "default", "via", "192.0.2.1"]);
    speaker.exec(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
    router.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);

    let frr = FrrNs::start(lab, &router, tag, &frr_config(router_gr), None);

    let echo = env!("CARGO_BIN_EXE_gw-echo");
    let server = Process::spawn(
        speaker
            .command(echo)
            .args(["server", &format!("{VIP}:7000")]),
        &lab.path(&format!("echo-server-{tag}.log")),
    );
    Topology {
        client,
        router,
        speaker,
        _daemons: vec![server],
        _frr: frr,
    }
}

fn config(graceful_restart: bool) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "192.0.2.2"
listen = "192.0.2.2:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "router"
address = "192.0.2.1"
asn = 65001
hold_time = 9
connect_retry = 1
families = ["ipv4-unicast"]
graceful_restart = {graceful_restart}

[[announce]]
prefix = "{VIP}/32"
next_hop = "192.0.2.2"
"#
    )
}

fn vip_in_kernel(router: &Netns) -> bool {
    router
        .exec(&["ip", "route", "show", &format!("{VIP}/32")])
        .contains("proto bgp")
}

struct Run {
    client: Value,
    route_missing_polls: usize,
    polls: usize,
}

/// How gracewire is replaced, 20 times.
#[derive(Clone, Copy, PartialEq)]
enum Restart {
    /// Stopped (SIGTERM), back after a second; GR at both ends or not.
    Restart { graceful_restart: bool },
    /// `--takeover`, with GR off at both ends.
    Takeover,
}

fn run(how: Restart, tag: &str) -> Run {
    let graceful_restart = how
        == Restart::Restart {
            graceful_restart: true,
        };
    let lab = Lab::new(SUITE);
    let topo = topology(&lab, tag, graceful_restart);
    let mut gw = Gracewire::start_in(&lab, &config(graceful_restart), Some(&topo.speaker.name));
    gw.wait_established("router", Duration::from_secs(30));
    wait_for(
        "VIP route in the router's kernel table",
        Duration::from_secs(30),
        || vip_in_kernel(&topo.router).then_some(()),
    );

    let seconds = 3 + RESTARTS as u64 * 2;
    let client = Command::new("ip")
        .args([
            "netns",
            "exec",
            &topo.client.name,
            env!("CARGO_BIN_EXE_gw-echo"),
            "client",
            &format!("{VIP}:7000"),
            "20",
            "10",
        ])
        .arg(seconds.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let done = AtomicBool::new(false);
    let (missing, polls) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                polls.fetch_add(1, Ordering::SeqCst);
                if !vip_in_kernel(&topo.router) {
                    missing.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        for _ in 0..RESTARTS {
            let round = Instant::now();
            if how == Restart::Takeover {
                gw.upgrade();
            } else {
                gw.process.stop("TERM", Duration::from_secs(10));
                // A speaker pod takes a moment to come back in a rolling update.
                std::thread::sleep(GAP);
                gw.restart();
            }
            gw.wait_established("router", Duration::from_secs(30));
            std::thread::sleep(Duration::from_secs(2).saturating_sub(round.elapsed()));
        }
        done.store(true, Ordering::SeqCst);
    });
    let out = client.wait_with_output().unwrap();
    let client: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("client output: {}", String::from_utf8_lossy(&out.stdout)));
    Run {
        client,
        route_missing_polls: missing.into_inner(),
        polls: polls.into_inner(),
    }
}

#[test]
fn twenty_restarts_with_graceful_restart_break_nothing_and_without_they_do() {
    let with = run(
        Restart::Restart {
            graceful_restart: true,
        },
        "g",
    );
    println!(
        "with GR:    {} ; VIP route missing in {} of {} polls",
        with.client, with.route_missing_polls, with.polls
    );
    let without = run(
        Restart::Restart {
            graceful_restart: false,
        },
        "n",
    );
    println!(
        "without GR: {} ; VIP route missing in {} of {} polls",
        without.client, without.route_missing_polls, without.polls
    );

    assert_eq!(with.client["resets"], 0, "with GR: no connection reset");
    assert_eq!(with.client["lost"], 0, "with GR: no message lost");
    assert!(
        with.client["max_stall_ms"].as_u64().unwrap() < NO_RETRANSMISSION_STALL_MS,
        "with GR: no stall as long as a retransmission"
    );
    assert_eq!(
        with.route_missing_polls, 0,
        "with GR: the route never leaves the router's table"
    );
    assert!(
        with.client["sent"].as_u64().unwrap() > 20 * 1000,
        "traffic really flowed"
    );

    assert!(
        without.route_missing_polls > 0,
        "without GR: the route leaves the router's table"
    );
    assert!(
        without.client["max_stall_ms"].as_u64().unwrap() >= 1000,
        "without GR: traffic stalls for a second or more while the route is gone"
    );
}

#[test]
fn twenty_takeovers_without_gr_break_nothing() {
    let taken = run(Restart::Takeover, "t");
    println!(
        "takeover, GR off: {} ; VIP route missing in {} of {} polls",
        taken.client, taken.route_missing_polls, taken.polls
    );
    assert_eq!(taken.client["resets"], 0, "no connection reset");
    assert_eq!(taken.client["lost"], 0, "no message lost");
    assert!(
        taken.client["max_stall_ms"].as_u64().unwrap() < NO_RETRANSMISSION_STALL_MS,
        "no stall as long as a retransmission"
    );
    assert_eq!(
        taken.route_missing_polls, 0,
        "the route never leaves the router's table"
    );
    assert!(
        taken.client["sent"].as_u64().unwrap() > 20 * 1000,
        "traffic really flowed"
    );
}
