//! An attacker among the configured peers (issue 24): a raw peer plays each attack on the
//! bounded inputs beside a gobgpd session on the same daemon, and the test asserts that the
//! daemon stays up, that gobgpd's session is the one it was (same OPEN count, its routes both
//! ways), that gracewire's RSS stays within a stated bound, and that the attacker's session
//! ends the way the RFC says. Loopback only, bounded in count and time.

use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::raw::{message, open_caps, RawSession};
use gracewire_e2e::{proc_status_kb, wait_for, Gracewire, Lab, Router};
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::time::Duration;

const SUITE: u8 = 48;
const T: Duration = Duration::from_secs(20);
const PEER_ASN: u32 = 65001;
const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// Routes we announce, so that each ROUTE-REFRESH answer is a table's worth of UPDATEs.
const ROUTES: u32 = 1000;

struct Bench {
    lab: Lab,
    gw: Gracewire,
    gobgp: GoBgp,
    gobgp_opens: u64,
}

impl Bench {
    fn start() -> Bench {
        let lab = Lab::new(SUITE);
        let mut gobgp = GoBgp::new(&lab, lab.spec(2, 65002, 64512));
        gobgp.start();
        let gw_addr = lab.addr(1);
        let mut config = format!(
            r#"[global]
asn = 64512
router_id = "{gw_addr}"
listen = "{gw_addr}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "gobgp"
address = "{gobgp}"
asn = 65002
local_address = "{gw_addr}"
hold_time = 9
connect_retry = 1

[[peers]]
name = "raw"
address = "{raw}"
asn = {PEER_ASN}
passive = true
graceful_restart = false
"#,
            gobgp = lab.addr(2),
            raw = lab.addr(3),
        );
        for i in 0..ROUTES {
            let _ = write!(
                config,
                "\n[[announce]]\nprefix = \"198.18.{}.{}/32\"\nnext_hop = \"192.0.2.1\"\n",
                i / 250,
                i % 250 + 1
            );
        }
        let gw = Gracewire::start(&lab, &config);
        gw.wait_established("gobgp", T);
        wait_for("gobgpd has our routes", T, || {
            (gobgp.routes().len() == ROUTES as usize).then_some(())
        });
        let gobgp_opens = gobgp.opens_received();
        Bench {
            lab,
            gw,
            gobgp,
            gobgp_opens,
        }
    }

    fn established(&self, caps: &[u8], recv_buffer: Option<usize>) -> RawSession {
        let open = open_caps(PEER_ASN, PEER_ID, 90, caps);
        let s = wait_for("the raw peer's session", T, || {
            RawSession::connect_with(self.lab.addr(3), self.lab.addr(1), &open, recv_buffer)
        });
        self.gw.wait_established("raw", T);
        s
    }

    fn rss_mib(&self) -> f64 {
        let pid = self.gw.process.pid().expect("gracewire runs");
        proc_status_kb(pid, "VmRSS") as f64 / 1024.0
    }

    /// The daemon still answers, and gobgpd's session is the one it was.
    fn check_untouched(&self, after: &str) {
        assert!(
            self.gw.try_show("neighbors").is_some(),
            "after {after}: gracewire is gone"
        );
        assert_eq!(
            self.gobgp.opens_received(),
            self.gobgp_opens,
            "after {after}: gobgpd's session was re-opened"
        );
        assert_eq!(self.gw.state("gobgp"), "Established", "after {after}");
        assert_eq!(self.gobgp.routes().len(), ROUTES as usize, "after {after}");
    }
}

/// Issue 24's headline: a Cease/Hard Reset whose data is another Hard Reset, 32,757 levels
/// deep in one 65,535-octet NOTIFICATION, overflowed the stack of the task that logged it and
/// aborted the process. Now it ends the attacker's session only.
#[test]
fn hostile_peers_cost_their_own_session_never_the_process() {
    let b = Bench::start();

    // Extended Messages (RFC 8654) negotiated, so the NOTIFICATION may be 65,535 octets.
    let mut s = b.established(&[6, 0], None);
    let mut body = Vec::new();
    while body.len() + 2 <= 65_535 - 19 {
        body.extend_from_slice(&[6, 9]);
    }
    s.send(&message(3, &body));
    wait_for("the attacker's session down", T, || {
        (b.gw.state("raw") != "Established").then_some(())
    });
    b.check_untouched("a nested Hard Reset");
    println!(
        "nested Hard Reset of {} octets: the attacker's session ended, nothing else",
        body.len() + 19
    );

    // ROUTE-REFRESH without the capability negotiated: Bad Message Type (RFC 2918 §4).
    let mut s = b.established(&[], None);
    s.send(&message(5, &[0, 1, 0, 1]));
    let n = s.expect(3, T).expect("a NOTIFICATION");
    assert_eq!(
        (n[0], n[1], &n[2..]),
        (1, 3, &[5u8][..]),
        "Bad Message Type, type 5"
    );
    b.check_untouched("a ROUTE-REFRESH not negotiated");

    // 20,000 ROUTE-REFRESH requests from a peer that reads nothing: each answer was the whole
    // Adj-RIB-Out again (400 MiB and more here); coalesced, they cost one answer in the queue.
    let before = b.rss_mib();
    let mut s = b.established(&[2, 0], Some(4096));
    let refresh = message(5, &[0, 1, 0, 1]);
    let flood: Vec<u8> = (0..20_000).flat_map(|_| refresh.iter().copied()).collect();
    s.send(&flood);
    std::thread::sleep(Duration::from_secs(3));
    let after = b.rss_mib();
    println!(
        "20,000 ROUTE-REFRESH from a peer that never reads: RSS {before:.1} -> {after:.1} MiB"
    );
    assert!(
        after - before < 64.0,
        "RSS grew by {:.1} MiB (bound: 64 MiB)",
        after - before
    );
    assert_eq!(
        b.gw.state("raw"),
        "Established",
        "the flood is not a reason to reset"
    );
    b.check_untouched("a ROUTE-REFRESH flood");
    drop(s);
}
