//! Multihop BFD (RFC 5883) with FRR 8.4 one router away, in network namespaces:
//!
//! ```text
//!   speaker (gracewire) ──10.x.1.0/30── hop (forwards) ──10.x.2.0/30── FRR (bgpd + bfdd)
//! ```
//! An eBGP multihop session (TTL 2) gets a multihop BFD session on UDP 4784; what arrives has
//! crossed one hop (TTL 254, the profile's `minimum_ttl`). A frozen speaker is withdrawn
//! within the detection time; a planned restart hands the session over as single hop does.

use gracewire_e2e::frr_ns::FrrNs;
use gracewire_e2e::netns::Netns;
use gracewire_e2e::{wait_for, Gracewire, Lab};
use std::time::{Duration, Instant};

const SUITE: u8 = 42;
const T: Duration = Duration::from_secs(30);
const VIP: &str = "198.51.100.10/32";

fn bgpd_conf(o: u8) -> String {
    let gw = format!("10.{o}.1.2");
    format!(
        "frr defaults traditional\nhostname frr\ndebug bgp neighbor-events\ndebug bgp bfd\n\
         router bgp 65001\n bgp router-id 10.{o}.2.2\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n \
         bgp graceful-restart\n neighbor {gw} remote-as 64512\n neighbor {gw} ebgp-multihop 2\n \
         neighbor {gw} update-source 10.{o}.2.2\n neighbor {gw} timers 3 9\n neighbor {gw} timers connect 1\n \
         neighbor {gw} bfd\n neighbor {gw} bfd profile fast\n \
         address-family ipv4 unicast\n  neighbor {gw} activate\n exit-address-family\n"
    )
}

const BFDD_CONF: &str = "bfd\n profile fast\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n  minimum-ttl 254\n";

fn gracewire_conf(o: u8) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "10.{o}.1.2"
listen = "10.{o}.1.2:179"
state_dir = "{{state_dir}}"

[bfd_profiles.fast]
receive_interval_ms = 300
transmit_interval_ms = 300
detect_multiplier = 3

[[peers]]
name = "frr"
address = "10.{o}.2.2"
local_address = "10.{o}.1.2"
asn = 65001
hold_time = 9
connect_retry = 1
ebgp_multihop = 2
families = ["ipv4-unicast"]
bfd = "fast"

[[announce]]
prefix = "{VIP}"
next_hop = "10.{o}.1.2"
"#
    )
}

fn vip_at_frr(frr: &FrrNs) -> bool {
    frr.json("bgpd", "show bgp ipv4 unicast json")["routes"]
        .get(VIP)
        .is_some()
}

#[test]
fn multihop_bfd_with_frr_comes_up_withdraws_a_frozen_speaker_and_survives_a_planned_restart() {
    let lab = Lab::new(SUITE);
    let o = lab.net[2];
    let name = |role: &str| format!("gm{role}{}{o}", lab.net[1]);
    let (speaker, hop, router) = (
        Netns::new(&name("s")),
        Netns::new(&name("h")),
        Netns::new(&name("f")),
    );
    speaker.link(
        &hop,
        &format!("m{o}sh"),
        &format!("10.{o}.1.2/30"),
        &format!("10.{o}.1.1/30"),
    );
    hop.link(
        &router,
        &format!("m{o}hf"),
        &format!("10.{o}.2.1/30"),
        &format!("10.{o}.2.2/30"),
    );
    hop.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    speaker.exec(&[
        "ip",
        "route",
        "add",
        "default",
        "via",
        &format!("10.{o}.1.1"),
    ]);
    router.exec(&[
        "ip",
        "route",
        "add",
        "default",
        "via",
        &format!("10.{o}.2.1"),
    ]);

    let frr = FrrNs::start(&lab, &router, "m", &bgpd_conf(o), Some(BFDD_CONF));
    let mut gw = Gracewire::start_in(&lab, &gracewire_conf(o), Some(&speaker.name));
    gw.wait_established("frr", T);
    let gw_peer = format!("10.{o}.1.2");
    let bfd = wait_for("BFD Up at FRR", T, || {
        let p = frr.bfd_peer(&gw_peer);
        (p["status"] == "up").then_some(p)
    });
    println!("FRR's BFD session: {bfd}");
    assert_eq!(bfd["multihop"], true, "FRR runs it as multihop: {bfd}");
    wait_for("BFD Up at gracewire", T, || {
        (gw.neighbor("frr")["bfd"]["state"] == "Up").then_some(())
    });
    assert_eq!(gw.neighbor("frr")["bfd"]["multihop"], true);
    // RFC 5883 §5: UDP 4784, not single hop's 3784.
    let ss = speaker.exec(&["ss", "-uanp"]);
    let ours: Vec<&str> = ss.lines().filter(|l| l.contains("gracewire")).collect();
    println!("gracewire's UDP sockets: {ours:#?}");
    let local = |l: &&str| l.split_whitespace().nth(3).unwrap_or("").to_string();
    assert!(
        ours.iter().any(|l| local(l).ends_with(":4784")),
        "a socket on UDP 4784: {ours:?}"
    );
    assert!(!ss.contains(":3784"), "no single-hop BFD socket: {ours:?}");
    // Sent from a source port in 49152-65535 (RFC 5881 §4, RFC 5883 §5) to the router's 4784.
    let sender = ours
        .iter()
        .find(|l| {
            l.split_whitespace()
                .nth(4)
                .is_some_and(|p| p.ends_with(":4784"))
        })
        .unwrap_or_else(|| panic!("a socket sending to 4784: {ours:?}"));
    let port: u16 = local(sender).rsplit(':').next().unwrap().parse().unwrap();
    assert!(port >= 49152, "source port {port}");
    // TTL: FRR drops multihop packets under its minimum-ttl (254 here), so an Up session
    // one hop away means we send with TTL 255 (RFC 5883 §5 leaves it to configuration;
    // 255 lets the router's check be the tightest).
    assert_eq!(bfd["minimum-ttl"], 254, "{bfd}");
    wait_for("the VIP at FRR", T, || vip_at_frr(&frr).then_some(()));

    // A planned restart: handed over, FRR's BFD stays up and GR keeps the route.
    let downs = |frr: &FrrNs| frr.log().matches("(Cease/BFD Down)").count();
    let before = downs(&frr);
    gw.process.stop("TERM", Duration::from_secs(10));
    let stopped = Instant::now();
    let mut missing = 0;
    while stopped.elapsed() < Duration::from_secs(1) {
        missing += !vip_at_frr(&frr) as usize;
        std::thread::sleep(Duration::from_millis(50));
    }
    gw.restart();
    gw.wait_established("frr", T);
    assert_eq!(missing, 0, "the VIP stayed while gracewire was down");
    assert_eq!(downs(&frr), before, "FRR's BGP never went down for BFD");
    assert!(
        gw.process.log_text().contains("resumed=true"),
        "handed over"
    );
    wait_for("BFD Up at gracewire after the restart", T, || {
        (gw.neighbor("frr")["bfd"]["state"] == "Up").then_some(())
    });

    // Frozen: withdrawn within the detection time.
    std::thread::sleep(Duration::from_secs(3));
    gw.process.signal("STOP");
    let frozen = Instant::now();
    let gone = loop {
        if !vip_at_frr(&frr) {
            break Some(frozen.elapsed());
        }
        if frozen.elapsed() > Duration::from_secs(8) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    gw.process.signal("CONT");
    println!("multihop: FRR withdrew a frozen speaker's VIP after {gone:?}");
    let gone = gone.expect("FRR kept the frozen speaker's route");
    assert!(
        gone < Duration::from_millis(1500),
        "{gone:?}, detection time 900 ms"
    );
    assert_eq!(downs(&frr), before + 1, "BFD took the session down");
}
