//! RFC 8950 Extended Next Hop with FRR (zebra + bgpd, `capability extended-nexthop`) over an
//! IPv6-only link in network namespaces:
//!
//! ```text
//!   speaker (gracewire, echo on the VIP) ── fd00:52::1 ─ veth ─ fd00:52::2 ── router (FRR)
//! ```
//! gracewire announces an IPv4 VIP with its IPv6 address as next hop; FRR installs it in the
//! kernel `via inet6 fd00:52::1`, and a client in the router's namespace reaches the echo server
//! on the VIP through it. FRR's own IPv4 route comes to gracewire with FRR's IPv6 next hop.

use gracewire_e2e::frr_ns::FrrNs;
use gracewire_e2e::netns::Netns;
use gracewire_e2e::{wait_for, Gracewire, Lab, Process};
use std::time::Duration;

const SUITE: u8 = 52;
const VIP: &str = "198.51.100.10";
const T: Duration = Duration::from_secs(30);

const BGPD: &str = "frr defaults traditional\nhostname router\n\
    router bgp 65001\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n \
    no bgp network import-check\n no bgp default ipv4-unicast\n \
    neighbor fd00:52::1 remote-as 64512\n neighbor fd00:52::1 capability extended-nexthop\n \
    neighbor fd00:52::1 timers 3 9\n neighbor fd00:52::1 timers connect 1\n \
    address-family ipv4 unicast\n  network 203.0.113.0/24\n  neighbor fd00:52::1 activate\n \
    exit-address-family\n";

fn config(extended_next_hop: bool) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "192.0.2.2"
listen = "[fd00:52::1]:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "router"
address = "fd00:52::2"
local_address = "fd00:52::1"
asn = 65001
hold_time = 9
connect_retry = 1
families = ["ipv4-unicast"]
extended_next_hop = {extended_next_hop}

[[announce]]
prefix = "{VIP}/32"
"#
    )
}

fn vip_route(router: &Netns) -> String {
    router.exec(&["ip", "route", "show", &format!("{VIP}/32")])
}

/// One connection to the echo server on the VIP from the router's namespace: what comes back.
fn echo_through(router: &Netns) -> Option<String> {
    let script = format!(
        "import socket; s = socket.create_connection(('{VIP}', 7000), timeout=2); \
         s.sendall(b'over ipv6\\n'); print(s.recv(64).decode().strip())"
    );
    let out = router
        .command("python3")
        .args(["-c", &script])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn an_ipv4_vip_over_an_ipv6_link_is_installed_via_inet6_and_reached() {
    let lab = Lab::new(SUITE);
    let name = |n: &str| format!("gw{SUITE}{}{n}", lab.net[2]);
    let (speaker, router) = (Netns::new(&name("s")), Netns::new(&name("r")));
    for ns in [&speaker, &router] {
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"]);
    }
    speaker.link(&router, &name("l"), "fd00:52::1/64", "fd00:52::2/64");
    speaker.exec(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
    router.exec(&["ip", "addr", "add", "203.0.113.1/32", "dev", "lo"]);
    // The way back to the client, as the fabric would have it (gracewire installs nothing).
    speaker.exec(&[
        "ip",
        "route",
        "add",
        "203.0.113.1/32",
        "via",
        "inet6",
        "fd00:52::2",
    ]);
    let _frr = FrrNs::start(&lab, &router, "router", BGPD, None);
    let _echo = Process::spawn(
        speaker
            .command(env!("CARGO_BIN_EXE_gw-echo"))
            .args(["server", &format!("{VIP}:7000")]),
        &lab.path("echo.log"),
    );

    // Without the capability on our side: the session is up, the VIP has no next hop to go with.
    let gw = Gracewire::start_in(&lab, &config(false), Some(&speaker.name));
    gw.wait_established("router", T);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(vip_route(&router), "", "no IPv4 route without RFC 8950");
    let got = gw.received("router");
    assert!(
        got.iter()
            .all(|r| !r["next_hop"].as_str().unwrap().contains(':')),
        "{got:?}"
    );

    gw.reload(&config(true), &lab);
    gw.cli(&["reset", "router"]);
    wait_for("extended next hop negotiated", T, || {
        (gw.neighbor("router")["session"]["extended_next_hop"] == true).then_some(())
    });
    let route = wait_for("the VIP in the router's kernel via inet6", T, || {
        let r = vip_route(&router);
        r.contains("via inet6 fd00:52::1").then_some(r)
    });
    assert!(route.contains("proto bgp"), "{route}");
    assert_eq!(echo_through(&router).as_deref(), Some("over ipv6"));

    let theirs = wait_for("FRR's IPv4 route with its IPv6 next hop", T, || {
        gw.received("router")
            .into_iter()
            .find(|r| r["prefix"] == "203.0.113.0/24")
    });
    assert_eq!(theirs["next_hop"], "fd00:52::2", "{theirs}");
    let text = gw.cli(&["show", "neighbors", "router"]);
    assert!(text.contains("ipv4-unicast over IPv6 (RFC 8950)"), "{text}");
}
