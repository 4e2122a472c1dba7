//! An attacker among the configured peers (issue 24): a raw peer plays each attack on the
//! bounded inputs beside a gobgpd session on the same daemon, and the test asserts that the
//! daemon stays up, that gobgpd's session is the one it was (same OPEN count, its routes both
//! ways), that gracewire's RSS stays within a stated bound, and that the attacker's session
//! ends the way the RFC says. Local clients flood the metrics port and the control socket the
//! same way. Loopback only, bounded in count and time.

use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::prometheus::{exposition, sample};
use gracewire_e2e::raw::{message, open_caps, update_v6_hosts, RawSession};
use gracewire_e2e::{proc_status_kb, quoted, wait_for, Gracewire, GwConfig, Lab, Router};
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

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
        let prefixes = (0..ROUTES).map(|i| format!("198.18.{}.{}/32", i / 250, i % 250 + 1));
        let config = GwConfig::new(gw_addr)
            .global("metrics", quoted(SocketAddr::from((gw_addr, lab.port(1)))))
            .peer("gobgp", lab.addr(2), 65002)
            .raw_peer("raw", lab.addr(3), PEER_ASN)
            .raw_peer("stall", lab.addr(4), PEER_ASN)
            .set("send_hold_time", 3)
            .announce(prefixes, "192.0.2.1")
            .to_string();
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
        self.established_as("raw", 3, caps, recv_buffer)
    }

    /// A session of the raw peer `name` from lab host `host`, once the last one is down.
    fn established_as(
        &self,
        name: &str,
        host: u8,
        caps: &[u8],
        recv_buffer: Option<usize>,
    ) -> RawSession {
        wait_for(&format!("{name}'s last session down"), T, || {
            (self.gw.state(name) != "Established").then_some(())
        });
        let open = open_caps(PEER_ASN, PEER_ID, 90, caps);
        let s = wait_for(&format!("{name}'s session"), T, || {
            RawSession::connect_with(self.lab.addr(host), self.lab.addr(1), &open, recv_buffer)
        });
        self.gw.wait_established(name, T);
        s
    }

    fn metrics_addr(&self) -> SocketAddr {
        SocketAddr::from((self.lab.addr(1), self.lab.port(1)))
    }

    /// How often the daemon reached `limit`, from a scrape of the metrics port.
    fn limit_reached(&self, limit: &str) -> f64 {
        let text = wait_for("a scrape", T, || exposition(self.metrics_addr()));
        let series = format!("gracewire_limit_reached_total{{limit=\"{limit}\"}}");
        sample(&text, &series).unwrap_or(0.0)
    }

    fn neighbor_error(&self, name: &str) -> String {
        self.gw.neighbor(name)["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn open_fds(&self) -> usize {
        let pid = self.gw.process.pid().expect("gracewire runs");
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
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

/// RFC 9687: a peer that reads nothing is reset once nothing could be written for the send
/// hold time (3 s here), with NOTIFICATION 8; before, nothing ended the session and its queue
/// grew.
#[test]
fn a_peer_that_stops_reading_is_reset_at_the_send_hold_time() {
    let b = Bench::start();
    let before = b.rss_mib();
    let mut s = b.established_as("stall", 4, &[2, 0], Some(4096));
    let refresh = message(5, &[0, 1, 0, 1]);
    let flood: Vec<u8> = (0..20_000).flat_map(|_| refresh.iter().copied()).collect();
    s.send(&flood);
    let start = Instant::now();
    wait_for("the stalled session reset", T, || {
        (b.gw.state("stall") != "Established").then_some(())
    });
    let took = start.elapsed();
    let after = b.rss_mib();
    println!(
        "a peer that never reads: reset after {:.1} s (send hold time 3 s), RSS {before:.1} -> {after:.1} MiB",
        took.as_secs_f64()
    );
    assert!(b.limit_reached("send_hold_time") >= 1.0);
    let error = b.neighbor_error("stall");
    assert!(
        error.contains("Send Hold Timer") || error.contains("8/"),
        "{error}"
    );
    assert!(
        after - before < 64.0,
        "RSS grew by {:.1} MiB",
        after - before
    );
    b.check_untouched("a peer that stopped reading");
}

/// The metrics port and the control socket: a local client that opens connections and sends
/// nothing holds at most the stated number of our file descriptors, and for at most the idle
/// time; an over-long control request is answered with an error and closed.
#[test]
fn hostile_local_clients_cost_their_own_connections() {
    let b = Bench::start();
    let base = b.open_fds();

    // 150 idle connections to the metrics port: before, each was a descriptor of ours for good.
    // (Past the cap they wait in the listener's backlog of 128; more would wait in SYN retries.)
    let connected = Instant::now();
    let flood: Vec<TcpStream> = (0..150)
        .map(|_| TcpStream::connect(b.metrics_addr()).expect("connect to the metrics port"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let held = b.open_fds().saturating_sub(base);
    println!("150 idle metrics connections: {held} more descriptors");
    assert!(
        held <= gracewire::http::MAX_CONNECTIONS + 4,
        "{held} descriptors for the metrics flood"
    );
    assert!(
        b.gw.try_show("neighbors").is_some(),
        "operators' commands still answer"
    );
    // The first to be accepted are closed at the idle time, taking their descriptors back.
    let mut closed = vec![false; flood.len()];
    wait_for(
        "the idle metrics connections closed",
        gracewire::http::IDLE_TIMEOUT + T,
        || {
            for (c, done) in flood.iter().zip(closed.iter_mut()) {
                c.set_nonblocking(true).unwrap();
                *done |= matches!((&*c).read(&mut [0u8; 64]), Ok(0));
            }
            (closed.iter().filter(|c| **c).count() >= gracewire::http::MAX_CONNECTIONS)
                .then_some(())
        },
    );
    println!(
        "the first {} idle metrics connections closed {:.1} s after connecting",
        gracewire::http::MAX_CONNECTIONS,
        connected.elapsed().as_secs_f64()
    );
    assert!(
        connected.elapsed() + Duration::from_secs(1) >= gracewire::http::IDLE_TIMEOUT,
        "closed before the idle time"
    );
    drop(flood);
    assert!(b.limit_reached("metrics_connections") >= 1.0);
    assert!(b.limit_reached("metrics_idle") >= 1.0);

    // Control API requests past its bounds: refused whole with their status, nothing applied.
    let refusals = control_requests_past_their_bounds(&b.gw.socket);
    assert!(
        refusals[0].starts_with("OUT_OF_RANGE") && refusals[0].contains("4194304"),
        "a request over 4 MiB: {}",
        refusals[0]
    );
    for r in &refusals[1..] {
        assert!(
            r.starts_with("RESOURCE_EXHAUSTED") && r.contains("at most 50000"),
            "1,000,000 announcements in one call: {r}"
        );
    }
    assert!(b.limit_reached("control_request") >= 1.0);
    let listed = b.gw.cli(&["announce", "list", "--json"]);
    assert!(!listed.contains("flood"), "nothing applied: {listed}");

    // 100 idle control connections hold at most the slots' descriptors; once they go,
    // operators' commands answer again.
    let base = b.open_fds();
    let flood: Vec<UnixStream> = (0..100)
        .map(|_| UnixStream::connect(&b.gw.socket).expect("connect to the control socket"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let held = b.open_fds().saturating_sub(base);
    println!("100 idle control connections: {held} more descriptors");
    assert!(
        held <= gracewire::api::MAX_CONTROL_CONNECTIONS + 4,
        "{held} descriptors for the control flood"
    );
    drop(flood);
    wait_for("show answers again", T, || b.gw.try_show("neighbors"));
    assert!(b.limit_reached("control_connections") >= 1.0);
    b.check_untouched("floods of local connections");
}

/// A 5 MiB request, then 1,000,000 announcements in one call (empty ones, 2 bytes each on the
/// wire) as SetAnnouncements and as DeleteAnnouncements; and a watcher that goes mid-stream.
/// The statuses, as the CLI prints them.
fn control_requests_past_their_bounds(socket: &std::path::Path) -> Vec<String> {
    use gracewire::api::proto::{self, Announcement, AnnouncementsChange};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = gracewire::api::client::connect(socket).await.unwrap();
        let status = |r: Result<tonic::Response<_>, tonic::Status>| {
            gracewire::api::client::status_error(r.expect_err("refused")).to_string()
        };
        let big = AnnouncementsChange {
            source: "flood".into(),
            announcements: vec![Announcement {
                prefix: "198.51.100.1/32".into(),
                labels: [("pad".to_string(), "x".repeat(5 << 20))].into(),
                ..Default::default()
            }],
        };
        let mut out = vec![status(c.set_announcements(big).await)];
        let million = AnnouncementsChange {
            source: "flood".into(),
            announcements: vec![Announcement::default(); 1_000_000],
        };
        out.push(status(c.set_announcements(million).await));
        let prefixes = vec![String::new(); 1_000_000];
        let delete = proto::DeleteAnnouncementsRequest {
            source: "flood".into(),
            prefixes,
        };
        out.push(status(c.delete_announcements(delete).await));
        // A watcher that reads one event's worth and goes: its stream ends with it.
        let stream = c.watch_events(proto::WatchEventsRequest {}).await.unwrap();
        drop(stream);
        out
    })
}

/// rustc-hash 2's FxHasher multiplier. An `Ipv6Addr` hashes as one u128 of its octets in
/// native (here little-endian) order, which FxHasher takes as two words:
/// `h = (h + lo) * K; h = (h + hi) * K`. With `lo = P + (i << 32)` (octets 0..4 the /32 P,
/// 4..8 the count) and `hi = B - (i << 32) * K`, the sum before the last multiply is the same
/// for every `i`, and so is the hash.
const FX_K: u64 = 0xf135_7aea_2e62_a9c5;

/// IPv6 /128s in 2001:db8::/32 that all hash alike under an unkeyed FxHash.
fn colliding_hosts(n: u32) -> Vec<Ipv6Addr> {
    let prefix = u64::from(u32::from_le_bytes([0x20, 0x01, 0x0d, 0xb8]));
    (0..u64::from(n))
        .map(|i| {
            let lo = prefix | i << 32;
            let hi = 0x5555_5555_5555_5555u64.wrapping_sub((i << 32).wrapping_mul(FX_K));
            Ipv6Addr::from(((hi as u128) << 64 | lo as u128).to_le_bytes())
        })
        .collect()
}

/// /128s with no pattern (xorshift), in another /32 than [`colliding_hosts`].
fn random_hosts(n: u32) -> Vec<Ipv6Addr> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Ipv6Addr::from((0x2001_0db9u128 << 96) | (x as u128) << 16 | (x >> 48) as u128)
        })
        .collect()
}

/// Issue 24: 40k /128s chosen to collide took 3 s to insert where random ones took 3 ms
/// (quadratic). Now the maps keyed by prefix hash with a key of their own, and the crafted set
/// costs what a random one does.
#[test]
fn prefixes_chosen_to_collide_cost_what_random_ones_do() {
    use std::hash::BuildHasher;
    const N: u32 = 40_000;
    let crafted = colliding_hosts(N);
    let random = random_hosts(N);
    let fx = |h: &Ipv6Addr| {
        rustc_hash::FxBuildHasher.hash_one(ipnet::IpNet::V6(ipnet::Ipv6Net::new(*h, 128).unwrap()))
    };
    let fx_hashes: std::collections::HashSet<u64> = crafted.iter().map(fx).collect();
    assert_eq!(fx_hashes.len(), 1, "the crafted set collides under FxHash");
    assert!(
        random
            .iter()
            .map(fx)
            .collect::<std::collections::HashSet<_>>()
            .len()
            > N as usize / 2
    );

    let b = Bench::start();
    let mut s = b.established(&[], None);
    let mut ingest = |hosts: &[Ipv6Addr], total: usize| {
        let start = Instant::now();
        for chunk in hosts.chunks(200) {
            s.send(&update_v6_hosts(PEER_ASN, chunk));
        }
        wait_for("the routes received", Duration::from_secs(120), || {
            (b.gw.neighbor("raw")["received"].as_u64() == Some(total as u64)).then_some(())
        });
        start.elapsed()
    };
    let random_took = ingest(&random, N as usize);
    let crafted_took = ingest(&crafted, 2 * N as usize);
    println!(
        "{N} IPv6 /128s: random {:.2} s, chosen to collide under FxHash {:.2} s",
        random_took.as_secs_f64(),
        crafted_took.as_secs_f64()
    );
    assert!(
        crafted_took < random_took * 3 + Duration::from_millis(300),
        "the crafted set took {crafted_took:?}, the random one {random_took:?}"
    );
    b.check_untouched("prefixes chosen to collide");
    drop(s);
}
