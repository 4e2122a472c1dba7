//! BFD with FRR 8.4 (bgpd + bfdd + zebra) and BIRD 2.0.12 in network namespaces:
//!
//! ```text
//!   router (kernel routes) ──192.0.2.0/30── speaker (gracewire announcing the VIP)
//! ```
//! A planned restart (SIGTERM) hands the BFD session to the next process (a long multiplier
//! announced first, so the router waits for it): the router's BFD never goes down and Graceful
//! Restart keeps the VIP. A frozen speaker (SIGSTOP, the nearest a test gets to a dead node) is
//! withdrawn within BFD's detection time. A takeover (hitless upgrade) hands BFD over the same
//! way while the BGP session moves to the new process. Measured with each router's two BFD modes; the
//! GR-friendly ones (FRR `check-control-plane-failure`, BIRD `bfd graceful`) keep a dead
//! speaker's routes, as docs/bfd.md says.

use gracewire_e2e::bird_ns::BirdNs;
use gracewire_e2e::frr_ns::FrrNs;
use gracewire_e2e::netns::Netns;
use gracewire_e2e::{wait_for, Gracewire, Lab};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SUITE: u8 = 39;
const VIP: &str = "198.51.100.10";
const T: Duration = Duration::from_secs(30);

/// One measurement at a time: timings of 300 ms × 3 are what is measured, and two benches
/// restarting daemons side by side on two cores would measure each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bgpd_conf(check_control_plane_failure: bool, restart_time: u16) -> String {
    let mut bfd = String::from(" neighbor 192.0.2.2 bfd\n neighbor 192.0.2.2 bfd profile fast\n");
    if check_control_plane_failure {
        bfd.push_str(" neighbor 192.0.2.2 bfd check-control-plane-failure\n");
    }
    format!(
        "frr defaults traditional\nhostname router\ndebug bgp neighbor-events\ndebug bgp bfd\ndebug bgp graceful-restart\n\
         router bgp 65001\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n \
         bgp graceful-restart\n bgp graceful-restart restart-time {restart_time}\n neighbor 192.0.2.2 remote-as 64512\n neighbor 192.0.2.2 timers 3 9\n \
         neighbor 192.0.2.2 timers connect 1\n{bfd} address-family ipv4 unicast\n  neighbor 192.0.2.2 activate\n exit-address-family\n"
    )
}

const BFDD_CONF: &str =
    "bfd\n profile fast\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n";

fn gracewire_conf() -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "192.0.2.2"
listen = "192.0.2.2:179"
state_dir = "{{state_dir}}"

[bfd_profiles.fast]
receive_interval_ms = 300
transmit_interval_ms = 300
detect_multiplier = 3

[[peers]]
name = "router"
address = "192.0.2.1"
local_address = "192.0.2.2"
asn = 65001
hold_time = 9
connect_retry = 1
families = ["ipv4-unicast"]
bfd = "fast"

[[announce]]
prefix = "{VIP}/32"
next_hop = "192.0.2.2"
"#
    )
}

/// The router's daemons.
enum Daemons {
    Frr(FrrNs),
    Bird(BirdNs),
}

impl Daemons {
    fn frr(&self) -> &FrrNs {
        match self {
            Daemons::Frr(f) => f,
            Daemons::Bird(_) => panic!("not FRR"),
        }
    }

    fn bfd_up(&self) -> bool {
        match self {
            Daemons::Frr(f) => f.bfd_peer("192.0.2.2")["status"] == "up",
            Daemons::Bird(b) => b
                .birdc("show bfd sessions")
                .lines()
                .any(|l| l.contains("192.0.2.2") && l.contains(" Up ")),
        }
    }

    fn log(&self) -> String {
        match self {
            Daemons::Frr(f) => f.log(),
            Daemons::Bird(b) => b.log(),
        }
    }
}

struct Bench {
    lab: Lab,
    router: Netns,
    speaker: Netns,
    daemons: Daemons,
    gw: Gracewire,
}

impl Bench {
    fn frr(&self) -> &FrrNs {
        self.daemons.frr()
    }
}

fn bench(tag: &str, check_control_plane_failure: bool, restart_time: u16) -> Bench {
    bench_with(tag, |lab, router| {
        Daemons::Frr(FrrNs::start(
            lab,
            router,
            tag,
            &bgpd_conf(check_control_plane_failure, restart_time),
            Some(BFDD_CONF),
        ))
    })
}

fn bench_with(tag: &str, daemons: impl FnOnce(&Lab, &Netns) -> Daemons) -> Bench {
    let lab = Lab::new(SUITE);
    let name = |role: &str| format!("gwb{role}{}{tag}", lab.net[2]);
    let (router, speaker) = (Netns::new(&name("r")), Netns::new(&name("s")));
    router.link(
        &speaker,
        &format!("vb{}{tag}", lab.net[2]),
        "192.0.2.1/30",
        "192.0.2.2/30",
    );
    let daemons = daemons(&lab, &router);
    let gw = Gracewire::start_in(&lab, &gracewire_conf(), Some(&speaker.name));
    gw.wait_established("router", T);
    wait_for("the VIP in the router's kernel table", T, || {
        vip_routed(&router).then_some(())
    });
    Bench {
        lab,
        router,
        speaker,
        daemons,
        gw,
    }
}

/// FRR's zebra installs it as `proto bgp`, BIRD's kernel protocol as `proto bird`.
fn vip_routed(router: &Netns) -> bool {
    let route = router.exec(&["ip", "route", "show", &format!("{VIP}/32")]);
    route.contains("proto bgp") || route.contains("proto bird")
}

fn wait_bfd_up(b: &Bench) {
    wait_bfd_up_in(&b.daemons, &b.gw);
}

fn wait_bfd_up_in(daemons: &Daemons, gw: &Gracewire) {
    wait_for("BFD Up at the router", T, || daemons.bfd_up().then_some(()));
    wait_for("BFD Up at gracewire", T, || {
        (gw.neighbor("router")["bfd"]["state"] == "Up").then_some(())
    });
}

/// Polls the router's kernel table until `stop`; returns (polls, polls without the VIP).
fn poll_vip(router: &Netns, stop: &AtomicBool) -> (usize, usize) {
    let (polls, missing) = (AtomicUsize::new(0), AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        polls.fetch_add(1, Ordering::SeqCst);
        if !vip_routed(router) {
            missing.fetch_add(1, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (polls.into_inner(), missing.into_inner())
}

/// gracewire's BFD sockets in the speaker's namespace, as `ss` lists them: (local address,
/// peer address, pid, inode). The inode names the socket itself: one handed to another
/// process keeps it, one opened again gets a new one.
fn bfd_sockets(speaker: &Netns) -> Vec<(String, String, u32, u64)> {
    let out = speaker.exec(&["ss", "-uanpe"]);
    let mut sockets: Vec<_> = out
        .lines()
        .filter(|l| l.contains("gracewire") && l.contains(":3784"))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let pid = l.split("pid=").nth(1)?.split(',').next()?.parse().ok()?;
            let ino = l.split("ino:").nth(1)?.split(' ').next()?.parse().ok()?;
            Some((cols.get(3)?.to_string(), cols.get(4)?.to_string(), pid, ino))
        })
        .collect();
    sockets.sort();
    sockets
}

/// The sockets' addresses and inodes, without the process holding them.
fn socket_identities(sockets: &[(String, String, u32, u64)]) -> Vec<(String, String, u64)> {
    sockets
        .iter()
        .map(|(l, p, _, ino)| (l.clone(), p.clone(), *ino))
        .collect()
}

/// Freezes gracewire and measures how long the router keeps routing to it.
fn frozen_for(b: &Bench, limit: Duration) -> Option<Duration> {
    let frozen = Instant::now();
    b.gw.process.signal("STOP");
    let gone = loop {
        if !vip_routed(&b.router) {
            break Some(frozen.elapsed());
        }
        if frozen.elapsed() > limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    b.gw.process.signal("CONT");
    gone
}

/// `n` planned restarts (SIGTERM, 1 s down, start) while polling the router's table; returns
/// (polls, polls without the VIP).
fn planned_restarts(b: &mut Bench, n: usize) -> (usize, usize) {
    let stop = AtomicBool::new(false);
    let (router, daemons, gw) = (&b.router, &b.daemons, &mut b.gw);
    std::thread::scope(|s| {
        let poller = s.spawn(|| poll_vip(router, &stop));
        for _ in 0..n {
            gw.process.stop("TERM", Duration::from_secs(10));
            std::thread::sleep(Duration::from_secs(1));
            gw.restart();
            gw.wait_established("router", T);
            wait_for("the VIP routed again", T, || {
                vip_routed(router).then_some(())
            });
            wait_bfd_up_in(daemons, gw);
        }
        stop.store(true, Ordering::SeqCst);
        poller.join().unwrap()
    })
}

/// `n` takeovers (`--takeover`, BFD Up again at both ends, half a second) while polling the
/// router's table; returns (polls, polls without the VIP).
fn takeovers(b: &mut Bench, n: usize) -> (usize, usize) {
    let stop = AtomicBool::new(false);
    let (router, daemons, gw) = (&b.router, &b.daemons, &mut b.gw);
    std::thread::scope(|s| {
        let poller = s.spawn(|| poll_vip(router, &stop));
        for _ in 0..n {
            gw.upgrade();
            wait_bfd_up_in(daemons, gw);
            std::thread::sleep(Duration::from_millis(500));
        }
        stop.store(true, Ordering::SeqCst);
        poller.join().unwrap()
    })
}

#[test]
fn frr_bfd_withdraws_a_frozen_speaker_within_the_detection_time_and_restarts_lose_nothing() {
    let _serial = serial();
    let mut b = bench("a", false, 120);
    wait_bfd_up(&b);
    let frr_peer = b.frr().bfd_peer("192.0.2.2");
    assert_eq!(
        (
            &frr_peer["remote-transmit-interval"],
            &frr_peer["remote-detect-multiplier"]
        ),
        (&300.into(), &3.into()),
        "FRR took our timers: {frr_peer}"
    );
    wait_for("the detection time after the Poll Sequence", T, || {
        (b.gw.neighbor("router")["bfd"]["detection_time_ms"] == 900).then_some(())
    });

    let outage = frozen_for(&b, Duration::from_secs(10))
        .expect("the router keeps the route of a frozen speaker");
    println!("FRR with bfd: the router withdrew a frozen speaker's VIP after {outage:?}");
    assert!(
        outage < Duration::from_millis(1500),
        "withdrawn after {outage:?}, detection time 900 ms"
    );
    b.gw.wait_established("router", T);
    wait_bfd_up(&b);
    // The polls below start from a routed VIP: zebra installs it again a moment after the
    // session is back (a restart within that moment was once counted as a withdrawal).
    wait_for("the VIP routed again after the freeze", T, || {
        vip_routed(&b.router).then_some(())
    });

    // A planned restart hands the BFD session to the next process: FRR sees it stay Up, and
    // Graceful Restart keeps the VIP.
    let bfd_downs = |b: &Bench| b.frr().log().matches("(Cease/BFD Down)").count();
    let before = bfd_downs(&b);
    let (polls, missing) = planned_restarts(&mut b, 5);
    println!("FRR with bfd: 5 planned restarts, the VIP missing in {missing} of {polls} polls");
    assert_eq!(missing, 0, "a planned restart withdraws nothing");
    assert_eq!(bfd_downs(&b), before, "FRR's BGP never went down for BFD");
    assert!(b.gw.process.log_text().contains("resumed=true"));

    // And a speaker frozen after a restart is withdrawn as fast as before.
    std::thread::sleep(Duration::from_secs(2));
    let outage = frozen_for(&b, Duration::from_secs(10)).expect("withdrawn");
    println!("FRR with bfd: after the restarts, a frozen speaker withdrawn after {outage:?}");
    assert!(outage < Duration::from_millis(1500), "{outage:?}");
}

/// A hitless upgrade (`--takeover`) moves the BFD session as a planned restart does, while the
/// BGP session itself moves to the new process: FRR's BFD and BGP never go down, the VIP never
/// leaves its table, and the new process's BFD still withdraws a frozen speaker at once.
#[test]
fn frr_bfd_and_bgp_stay_up_through_takeovers() {
    let _serial = serial();
    let mut b = bench("t", false, 120);
    wait_bfd_up(&b);
    let established = |b: &Bench| {
        b.frr().json("bgpd", "show bgp neighbors 192.0.2.2 json")["192.0.2.2"]
            ["connectionsEstablished"]
            .clone()
    };
    let sessions = established(&b);
    assert!(sessions.is_u64(), "FRR counts its sessions: {sessions}");
    let bfd_downs = |b: &Bench| b.frr().log().matches("(Cease/BFD Down)").count();
    let before = bfd_downs(&b);
    let sockets = bfd_sockets(&b.speaker);
    assert_eq!(
        sockets.len(),
        2,
        "one socket receiving on 3784, one sending to the router's: {sockets:?}"
    );
    let (polls, missing) = takeovers(&mut b, 5);
    println!("FRR with bfd: 5 takeovers, the VIP missing in {missing} of {polls} polls");
    assert_eq!(missing, 0, "a takeover withdraws nothing");
    assert_eq!(bfd_downs(&b), before, "FRR's BGP never went down for BFD");
    assert_eq!(established(&b), sessions, "the same BGP session throughout");
    let log = b.gw.process.log_text();
    assert_eq!(
        log.matches("BFD sessions handed over with their sockets")
            .count(),
        5
    );
    assert!(log.contains("resumed=true"), "BFD sessions resumed");
    let after = bfd_sockets(&b.speaker);
    assert_eq!(
        socket_identities(&after),
        socket_identities(&sockets),
        "the very sockets moved (SCM_RIGHTS), held now by the last process"
    );
    assert_ne!(after[0].2, sockets[0].2, "by another process");
    std::thread::sleep(Duration::from_secs(2));
    let outage = frozen_for(&b, Duration::from_secs(10)).expect("withdrawn");
    println!("FRR with bfd: after the takeovers, a frozen speaker withdrawn after {outage:?}");
    assert!(outage < Duration::from_millis(1500), "{outage:?}");
}

/// A takeover that fails after the BFD session was given up (the new process dies before it
/// answers): the old process resumes BFD on the same sockets, FRR's BFD and BGP never go down,
/// and a frozen speaker is still withdrawn at once (the long multiplier is gone again).
#[test]
fn frr_bfd_stays_up_when_a_takeover_fails() {
    use gracewire::takeover::format::{Frame, FORMAT};
    use gracewire::takeover::{socket_path, unix};
    let _serial = serial();
    let b = bench("x", false, 120);
    wait_bfd_up(&b);
    let bfd_downs = |b: &Bench| b.frr().log().matches("(Cease/BFD Down)").count();
    let before = bfd_downs(&b);
    let sockets = bfd_sockets(&b.speaker);
    let stop = AtomicBool::new(false);
    let (polls, missing) = std::thread::scope(|s| {
        let poller = s.spawn(|| poll_vip(&b.router, &stop));
        // The new process: asks, takes every frame and socket, and dies without answering.
        let path = socket_path(&b.lab.path("gracewire-state"));
        let mut conn = std::os::unix::net::UnixStream::connect(path).unwrap();
        let hello = Frame::Hello {
            format: FORMAT,
            pid: 1,
        };
        unix::send(&mut conn, &hello, &[], None).unwrap();
        let mut frames = Vec::new();
        while let Ok((frame, _, fd)) = unix::recv(&mut conn) {
            let done = frame == Frame::Done;
            frames.push((frame, fd.is_some()));
            if done {
                break;
            }
        }
        let bfd_frames = frames
            .iter()
            .filter(|(f, fd)| {
                *fd && matches!(f, Frame::BfdListener { .. } | Frame::BfdSession { .. })
            })
            .count();
        assert_eq!(bfd_frames, 2, "{frames:?}");
        drop(conn);
        wait_for("the old process to take BFD back", T, || {
            b.gw.process
                .log_text()
                .contains("takeover failed")
                .then_some(())
        });
        // Longer than the configured detection time (900 ms), several times over.
        std::thread::sleep(Duration::from_secs(5));
        stop.store(true, Ordering::SeqCst);
        poller.join().unwrap()
    });
    println!("FRR with bfd: a failed takeover, the VIP missing in {missing} of {polls} polls");
    assert_eq!(missing, 0);
    assert_eq!(bfd_downs(&b), before, "FRR's BGP never went down for BFD");
    assert!(b.daemons.bfd_up());
    assert_eq!(b.gw.neighbor("router")["bfd"]["state"], "Up");
    assert_eq!(
        bfd_sockets(&b.speaker),
        sockets,
        "the same sockets, in the same process"
    );
    let outage = frozen_for(&b, Duration::from_secs(10)).expect("withdrawn");
    println!("FRR with bfd: after a failed takeover, a frozen speaker withdrawn after {outage:?}");
    assert!(outage < Duration::from_millis(1500), "{outage:?}");
}

#[test]
fn frr_bfd_with_check_control_plane_failure_keeps_routes_through_restarts_but_not_fast_failure() {
    let _serial = serial();
    let mut b = bench("c", true, 120);
    wait_bfd_up(&b);
    let (polls, missing) = planned_restarts(&mut b, 5);
    println!("FRR with bfd check-control-plane-failure: 5 planned restarts, the VIP missing in {missing} of {polls} polls");
    assert_eq!(missing, 0, "a planned restart withdraws nothing");
    assert!(
        !b.frr().log().contains("BFD DOWN message ignored"),
        "BFD never went down: the session was handed over"
    );

    // A session frozen: bfdd reports the failure, bgpd ignores it (Graceful Restart is
    // negotiated and our C bit is clear), the hold timer ends the session and FRR keeps the
    // routes for the restart time: the blackhole BFD was meant to prevent.
    let mut fresh = bench("f", true, 120);
    wait_bfd_up(&fresh);
    // As a node that dies some time after its session came up. (Observed: frozen within the
    // first second or two after BFD came up, bgpd still took BFD down and withdrew.)
    std::thread::sleep(Duration::from_secs(5));
    let kept = frozen_for(&fresh, Duration::from_secs(12));
    println!("FRR with bfd check-control-plane-failure: a frozen speaker's VIP withdrawn after {kept:?} (None: still routed after 12 s)");
    assert_eq!(
        kept, None,
        "bgpd ignored BFD down; the hold timer (9 s) then GR keep the route"
    );
    assert!(fresh.frr().log().contains("BFD DOWN message ignored"));
    fresh.gw.process.stop("KILL", Duration::from_secs(1));
    let _ = (&b.lab, &b.speaker, &fresh.lab, &fresh.speaker);
}

fn bird_conf(bfd: &str) -> String {
    format!(
        "router id 192.0.2.1;\nlog stderr all;\nprotocol device {{}}\n\
         protocol kernel {{ ipv4 {{ export all; }}; }}\n\
         protocol bfd {{ interface \"*\" {{ min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }}; }}\n\
         protocol bgp gracewire {{\n  local 192.0.2.1 as 65001;\n  neighbor 192.0.2.2 as 64512;\n  \
         strict bind on; hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 2;\n  graceful restart on;\n  bfd {bfd};\n  \
         ipv4 {{ import all; export none; }};\n}}\n"
    )
}

/// When BIRD's BFD session to the speaker last changed state, in ms (BIRD's own clock).
fn bird_bfd_since(b: &Bench) -> i64 {
    match &b.daemons {
        Daemons::Bird(bird) => bird.bfd_since_ms("192.0.2.2").expect("a BFD session"),
        Daemons::Frr(_) => unreachable!(),
    }
}

/// BIRD 2.0.12 with `bfd on` (both properties) and `bfd graceful` (a dead speaker kept).
#[test]
fn bird_bfd_on_gives_both_and_bfd_graceful_keeps_a_dead_speaker() {
    let _serial = serial();
    for (tag, bfd) in [("b", "on"), ("g", "graceful")] {
        let mut b = bench_with(tag, |lab, router| {
            Daemons::Bird(BirdNs::start(lab, router, tag, &bird_conf(bfd)))
        });
        wait_bfd_up(&b);
        let bfd_since = bird_bfd_since(&b);
        let (polls, missing) = planned_restarts(&mut b, 5);
        println!("BIRD with bfd {bfd}: 5 planned restarts, the VIP missing in {missing} of {polls} polls");
        let after = bird_bfd_since(&b);
        assert!(
            (after - bfd_since).abs() < 50,
            "bfd {bfd}: BIRD's BFD session changed state in the restarts ({bfd_since} -> {after} ms)"
        );
        std::thread::sleep(Duration::from_secs(5));
        let outage = frozen_for(&b, Duration::from_secs(12));
        println!("BIRD with bfd {bfd}: a frozen speaker's VIP withdrawn after {outage:?} (None: still routed after 12 s)");
        assert_eq!(missing, 0, "bfd {bfd}: a planned restart withdraws nothing");
        if bfd == "on" {
            let outage = outage.expect("withdrawn");
            assert!(outage < Duration::from_millis(1500), "{outage:?}");
        } else {
            assert_eq!(
                outage, None,
                "bfd graceful: BFD down starts GR, the route is kept"
            );
        }
        b.gw.process.stop("KILL", Duration::from_secs(1));
        let _ = (&b.lab, &b.speaker, b.daemons.log());
    }
}

/// BIRD 2.0.12 (`bfd on`) through 5 takeovers: its BFD and BGP sessions stay the ones they
/// were, the VIP never leaves its table, and a frozen speaker is still withdrawn at once.
#[test]
fn bird_bfd_and_bgp_stay_up_through_takeovers() {
    let _serial = serial();
    let mut b = bench_with("u", |lab, router| {
        Daemons::Bird(BirdNs::start(lab, router, "u", &bird_conf("on")))
    });
    wait_bfd_up(&b);
    let marks = |b: &Bench| match &b.daemons {
        Daemons::Bird(bird) => (bird.bgp_since_ms(), Some(bird_bfd_since(b))),
        Daemons::Frr(_) => unreachable!(),
    };
    let (bgp, bfd) = marks(&b);
    assert!(bgp.is_some() && bfd.is_some(), "{bgp:?} {bfd:?}");
    let (polls, missing) = takeovers(&mut b, 5);
    println!("BIRD with bfd on: 5 takeovers, the VIP missing in {missing} of {polls} polls");
    assert_eq!(missing, 0, "a takeover withdraws nothing");
    let (bgp_after, bfd_after) = marks(&b);
    let same = |a: Option<i64>, b: Option<i64>| (a.unwrap() - b.unwrap()).abs() < 50;
    assert!(
        same(bgp, bgp_after),
        "the same BGP session: {bgp:?} {bgp_after:?}"
    );
    assert!(
        same(bfd, bfd_after),
        "BFD never changed state: {bfd:?} {bfd_after:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let outage = frozen_for(&b, Duration::from_secs(10)).expect("withdrawn");
    println!("BIRD with bfd on: after the takeovers, a frozen speaker withdrawn after {outage:?}");
    assert!(outage < Duration::from_millis(1500), "{outage:?}");
    b.gw.process.stop("KILL", Duration::from_secs(1));
}
