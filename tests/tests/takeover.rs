//! Hitless upgrade (`gracewire run --takeover`) against real routers, with and without
//! Graceful Restart, each polled every 100 ms: through 20 upgrades the router keeps one
//! session (its count of sessions, or the time it came up, never changes), never misses one
//! of our routes, and receives no UPDATE at all; an upgrade whose config changes one
//! announcement then sends exactly one UPDATE, with that change.

use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::prometheus::{exposition, sample};
use gracewire_e2e::{wait_for, Gracewire, Lab, Router};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SUITE: u8 = 46;
const T: Duration = Duration::from_secs(60);
const UPGRADES: usize = 20;

/// gracewire with one peer (AS 65001 at `lab.addr(2)`), GR on or off, three routes; the
/// first has MED `med`.
fn config(lab: &Lab, gr: bool, med: u32) -> String {
    let mut c = format!(
        "[global]\nasn = 64512\nrouter_id = \"{gw}\"\nlisten = \"{gw}:179\"\nstate_dir = \"{{state_dir}}\"\n\
         metrics = \"{gw}:9179\"\n\
         [[peers]]\nname = \"peer\"\naddress = \"{peer}\"\nasn = 65001\nlocal_address = \"{gw}\"\n\
         hold_time = 9\nconnect_retry = 1\ngraceful_restart = {gr}\n",
        gw = lab.addr(1),
        peer = lab.addr(2),
    );
    for (i, prefix) in ["198.51.100.10/32", "198.51.100.11/32", "2001:db8:100::/64"]
        .iter()
        .enumerate()
    {
        c += &format!("\n[[announce]]\nprefix = \"{prefix}\"\n");
        // BIRD takes no IPv4-mapped next hop for IPv6: a global one for each family.
        let next_hop = if prefix.contains('.') {
            "192.0.2.1"
        } else {
            "2001:db8::1"
        };
        c += &format!("next_hop = \"{next_hop}\"\n");
        if i == 0 {
            c += &format!("med = {med}\n");
        }
    }
    c
}

/// What the poller saw of the router.
#[derive(Debug)]
struct Polled {
    /// The fewest of our routes it had at any poll.
    fewest: usize,
    /// Each different session mark seen (one: the same session throughout).
    marks: Vec<Option<String>>,
    polls: usize,
}

/// Polls `router` every 100 ms while `upgrade` runs.
fn polling(router: &dyn Router, upgrade: impl FnOnce()) -> Polled {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let poller = s.spawn(|| {
            let mut seen = Polled {
                fewest: usize::MAX,
                marks: Vec::new(),
                polls: 0,
            };
            while !done.load(Ordering::Relaxed) {
                seen.fewest = seen.fewest.min(router.route_count());
                let mark = router.session_mark();
                let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
                    (Some(a), Some(b)) => router.same_session(a, b),
                    _ => a == b,
                };
                if !seen.marks.iter().any(|m| same(m, &mark)) {
                    seen.marks.push(mark);
                }
                seen.polls += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        });
        upgrade();
        done.store(true, Ordering::Relaxed);
        poller.join().unwrap()
    })
}

fn upgrades_are_invisible(lab: &Lab, router: &mut dyn Router, gr: bool) {
    let kind = format!("{}{}", router.kind(), if gr { "" } else { " (GR off)" });
    router.start();
    let mut gw = Gracewire::start(lab, &config(lab, gr, 10));
    wait_for(&format!("3 routes at {kind}"), T, || {
        (router.routes().len() == 3).then_some(())
    });
    wait_for(&format!("{kind}'s route at gracewire"), T, || {
        gw.has_route("peer", "203.0.113.0/24").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let mark = router.session_mark();
    let updates = router.updates_received();
    assert!(
        mark.is_some() && updates.is_some(),
        "{kind}: {mark:?} {updates:?}"
    );

    let mut took = Vec::new();
    let seen = polling(&*router, || {
        for _ in 0..UPGRADES {
            took.push(gw.upgrade());
            // Polls between upgrades too, so each upgrade is seen from before to after.
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    took.sort();
    println!(
        "{kind}: {UPGRADES} upgrades, {} polls, fewest routes {}, sessions seen {:?}; start of the new process to exit of the old: median {:?}, max {:?}",
        seen.polls,
        seen.fewest,
        seen.marks,
        took[took.len() / 2],
        took[took.len() - 1]
    );
    // Which way each session went, from the log: all taken over, none declined.
    let log = gw.process.log_text();
    assert_eq!(
        log.matches("session handed over").count(),
        UPGRADES,
        "{kind}"
    );
    assert_eq!(
        log.matches("session taken over from the previous process")
            .count(),
        UPGRADES,
        "{kind}"
    );
    assert!(!log.contains("cannot resume"), "{kind}: {log}");
    // The last process serves the metrics port, and counts its session as resumed.
    let metrics = (lab.addr(1), 9179).into();
    let counted = |result: &str| {
        let text = exposition(metrics)?;
        sample(
            &text,
            &format!("gracewire_takeover_sessions{{result=\"{result}\"}}"),
        )
    };
    wait_for(&format!("{kind}: the takeover metric"), T, || {
        (counted("resumed") == Some(1.0)).then_some(())
    });
    assert_eq!(counted("declined"), Some(0.0), "{kind}");
    assert_eq!(
        seen.fewest, 3,
        "{kind}: a route went missing during an upgrade"
    );
    let same = |m: &Option<String>| match (m, &mark) {
        (Some(a), Some(b)) => router.same_session(a, b),
        _ => false,
    };
    assert!(
        seen.marks.len() == 1 && same(&seen.marks[0]),
        "{kind}: the session changed: {:?} from {mark:?}",
        seen.marks
    );
    assert_eq!(
        router.updates_received(),
        updates,
        "{kind}: an UPDATE was sent"
    );
    assert!(
        gw.has_route("peer", "203.0.113.0/24"),
        "{kind}: its route came along without being sent again"
    );
    let uptime = gw.neighbor("peer")["uptime_secs"].as_u64().unwrap();
    assert!(
        uptime >= 1,
        "{kind}: the session's age came along: {uptime}"
    );

    // An upgrade whose config changes one announcement sends exactly that.
    gw.write_config(&config(lab, gr, 20), lab);
    gw.upgrade();
    wait_for(&format!("the new MED at {kind}"), T, || {
        router
            .routes()
            .iter()
            .any(|r| r.prefix == "198.51.100.10/32" && r.med == Some(20))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        router.updates_received(),
        updates.map(|u| u + 1),
        "{kind}: exactly one UPDATE"
    );
    assert!(
        same(&router.session_mark()),
        "{kind}: still the same session"
    );
}

/// The router's spec: GR as asked, and a route of its own towards gracewire.
fn spec(lab: &Lab, gr: bool) -> gracewire_e2e::PeerSpec {
    let mut spec = lab.spec(2, 65001, 64512);
    spec.graceful_restart = gr;
    spec.originate = vec![("203.0.113.0/24".into(), lab.addr(2).to_string())];
    spec
}

#[test]
fn gobgpd_without_gr() {
    let lab = Lab::new(SUITE);
    upgrades_are_invisible(&lab, &mut GoBgp::new(&lab, spec(&lab, false)), false);
}

#[test]
fn frr_with_graceful_restart_disabled() {
    let lab = Lab::new(SUITE);
    upgrades_are_invisible(&lab, &mut Frr::new(&lab, spec(&lab, false)), false);
}

#[test]
fn frr_as_gr_helper() {
    let lab = Lab::new(SUITE);
    upgrades_are_invisible(&lab, &mut Frr::new(&lab, spec(&lab, true)), true);
}

#[test]
fn bird_with_gr() {
    let lab = Lab::new(SUITE);
    upgrades_are_invisible(&lab, &mut Bird::new(&lab, spec(&lab, true)), true);
}

/// The systemd way (examples/systemd): SIGUSR2 makes the running process start the installed
/// binary with `--takeover`; the new one says `MAINPID` on the notify socket. With
/// `--linger-after-takeover` (the Kubernetes way) the old one then waits for its SIGTERM.
#[test]
fn sigusr2_starts_the_successor_which_tells_the_service_manager() {
    let lab = Lab::new(SUITE);
    let mut gobgp = GoBgp::new(&lab, spec(&lab, false));
    gobgp.start();
    let notify_path = lab.path("notify");
    let manager = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    manager.set_read_timeout(Some(T)).unwrap();
    let notify = notify_path.to_str().unwrap();
    let mut gw = Gracewire::start_with(
        &lab,
        &config(&lab, false, 10),
        &["--linger-after-takeover"],
        &[("NOTIFY_SOCKET", notify)],
    );
    let said = |manager: &std::os::unix::net::UnixDatagram| {
        let mut buf = [0u8; 256];
        let n = manager.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    assert_eq!(said(&manager), "READY=1");
    wait_for("3 routes at gobgpd", T, || {
        (gobgp.route_count() == 3).then_some(())
    });
    let (mark, updates) = (gobgp.session_mark(), gobgp.updates_received());
    let old_pid = gw.process.pid().unwrap();
    gw.process.signal("USR2");
    let ready = said(&manager);
    let new_pid: i32 = ready
        .strip_prefix("MAINPID=")
        .and_then(|r| r.strip_suffix("\nREADY=1"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{ready:?}"));
    assert_ne!(new_pid, old_pid);
    wait_for("the old process to linger", T, || {
        gw.process
            .log_text()
            .contains("lingering until SIGTERM")
            .then_some(())
    });
    assert!(
        gw.process
            .child
            .as_mut()
            .unwrap()
            .try_wait()
            .unwrap()
            .is_none(),
        "still there"
    );
    gw.process.stop("TERM", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(gobgp.session_mark(), mark, "the same session");
    assert_eq!(gobgp.updates_received(), updates, "nothing sent again");
    assert_eq!(gobgp.route_count(), 3);
    // The successor runs and serves the same control socket; then it is stopped.
    assert!(std::path::Path::new(&format!("/proc/{new_pid}")).exists());
    assert_eq!(gw.neighbor("peer")["state"], "Established");
    let _ = std::process::Command::new("kill")
        .arg(new_pid.to_string())
        .status();
}

/// The routes of one peer at gracewire: (prefix, stale), sorted.
fn received(gw: &Gracewire) -> Vec<(String, bool)> {
    let mut routes: Vec<(String, bool)> = gw
        .received("peer")
        .iter()
        .map(|r| {
            (
                r["prefix"].as_str().unwrap().to_string(),
                r["stale"] == true,
            )
        })
        .collect();
    routes.sort();
    routes
}

/// Our GR helper's state moves with the session: a peer that restarted and has sent one of
/// its two routes again when the upgrade comes keeps the other one stale in the new process,
/// whose helper then sweeps it at the End-of-RIB the old one was waiting for.
#[test]
fn a_peers_refresh_under_way_moves_to_the_new_process() {
    use gracewire_e2e::raw::{open_gr, update, RawPeer, ATTRS_65001};
    let lab = Lab::new(SUITE);
    let raw = RawPeer::listen(lab.addr(2));
    // The hand-driven peer sends no KEEPALIVE: a hold time the test cannot outlast.
    let config = config(&lab, true, 10).replace("hold_time = 9", "hold_time = 240");
    let mut gw = Gracewire::start(&lab, &config);
    let id = lab.addr(2);
    let mut s = raw.accept_with(&open_gr(65001, id, 120, false));
    s.send(&update(
        &[],
        &ATTRS_65001,
        &[24, 203, 0, 113, 24, 203, 0, 114],
    ));
    let both = |stale: [bool; 2]| {
        vec![
            ("203.0.113.0/24".to_string(), stale[0]),
            ("203.0.114.0/24".to_string(), stale[1]),
        ]
    };
    wait_for("both routes at gracewire", T, || {
        (received(&gw) == both([false, false])).then_some(())
    });
    drop(s); // the peer restarts: its connection is lost, no NOTIFICATION
    wait_for("both routes kept stale", T, || {
        (received(&gw) == both([true, true])).then_some(())
    });
    let mut s = raw.accept_with(&open_gr(65001, id, 120, true));
    s.send(&update(&[], &ATTRS_65001, &[24, 203, 0, 113]));
    wait_for("one route refreshed, one still stale", T, || {
        (received(&gw) == both([false, true])).then_some(())
    });

    gw.upgrade();
    let log = gw.process.log_text();
    assert!(
        log.contains("the peer's refresh after its restart goes on here"),
        "{log}"
    );
    assert_eq!(
        received(&gw),
        both([false, true]),
        "as it was, in the new process"
    );
    s.send(&update(&[], &[], &[])); // End-of-RIB, IPv4 unicast
    wait_for("the stale route swept by the new process", T, || {
        (received(&gw) == vec![("203.0.113.0/24".to_string(), false)]).then_some(())
    });
    assert!(!s.closed(Duration::from_millis(500)), "the session goes on");
}
