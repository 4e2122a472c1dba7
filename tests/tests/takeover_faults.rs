//! Takeovers that go wrong, next to FRR as a GR helper. The test plays the new process with
//! gracewire's own takeover library, so it can fail exactly where it wants. Each fault leaves
//! the session with the old process, or in graceful restart at FRR — never torn down with a
//! NOTIFICATION that ends graceful restart — and each test shows which from FRR's side.

use gracewire::takeover::format::{Frame, FORMAT};
use gracewire::takeover::{socket_path, unix};
use gracewire_e2e::frr::Frr;
use gracewire_e2e::prometheus::{exposition, sample};
use gracewire_e2e::{wait_for, Gracewire, Lab, Router};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

const SUITE: u8 = 47;
const T: Duration = Duration::from_secs(60);

fn config(lab: &Lab) -> String {
    format!(
        "[global]\nasn = 64512\nrouter_id = \"{gw}\"\nlisten = \"{gw}:179\"\nstate_dir = \"{{state_dir}}\"\n\
         [[peers]]\nname = \"peer\"\naddress = \"{peer}\"\nasn = 65001\nlocal_address = \"{gw}\"\n\
         hold_time = 9\nconnect_retry = 1\n\
         [[announce]]\nprefix = \"198.51.100.10/32\"\nnext_hop = \"192.0.2.1\"\n\
         [[announce]]\nprefix = \"198.51.100.11/32\"\nnext_hop = \"192.0.2.1\"\n",
        gw = lab.addr(1),
        peer = lab.addr(2),
    )
}

/// FRR (GR helper, restart time 120 s) with gracewire's two routes.
fn setup(lab: &Lab) -> (Frr, Gracewire) {
    let mut frr = Frr::new(lab, lab.spec(2, 65001, 64512));
    frr.start();
    let gw = Gracewire::start(lab, &config(lab));
    wait_for("2 routes at FRR", T, || {
        (frr.route_count() == 2).then_some(())
    });
    (frr, gw)
}

fn notifications_received(frr: &Frr) -> u64 {
    frr.neighbor_json()["messageStats"]["notificationsRecv"]
        .as_u64()
        .unwrap_or(0)
}

/// Plays the new process up to the moment it has every session: Hello, then the frames.
fn take(lab: &Lab, format: u32) -> (UnixStream, Vec<Frame>, Vec<OwnedFd>) {
    let path = socket_path(&lab.path("gracewire-state"));
    let mut conn = UnixStream::connect(path).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    unix::send(&mut conn, &Frame::Hello { format, pid: 1 }, &[], None).unwrap();
    let (mut frames, mut fds) = (Vec::new(), Vec::new());
    loop {
        let Ok((frame, _, fd)) = unix::recv(&mut conn) else {
            break;
        };
        fds.extend(fd);
        let last = matches!(frame, Frame::Done | Frame::Refused { .. });
        frames.push(frame);
        if last {
            break;
        }
    }
    (conn, frames, fds)
}

#[test]
fn a_new_process_that_dies_before_answering_leaves_the_sessions_with_the_old_one() {
    let lab = Lab::new(SUITE);
    let (frr, gw) = setup(&lab);
    let mark = frr.session_mark();
    let updates = frr.updates_received();
    let (conn, frames, fds) = take(&lab, FORMAT);
    assert!(
        matches!(
            frames.first(),
            Some(Frame::Welcome {
                sessions: 1,
                listener: true,
                ..
            })
        ),
        "{frames:?}"
    );
    assert_eq!(fds.len(), 2, "the listener and the session's connection");
    drop((conn, fds)); // dies: no answer
    wait_for("the old process to resume its session", T, || {
        gw.process
            .log_text()
            .contains("takeover failed")
            .then_some(())
    });
    // Past FRR's hold time (9 s): our KEEPALIVEs went on from the old process.
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(frr.session_mark(), mark, "FRR kept the same session");
    assert_eq!(frr.route_count(), 2);
    assert_eq!(frr.updates_received(), updates, "nothing sent again");
    assert_eq!(notifications_received(&frr), 0);
    assert_eq!(gw.neighbor("peer")["state"], "Established");
}

/// A session the new process cannot resume (its config moved the peer to another address) is
/// closed without a NOTIFICATION: FRR keeps our routes in graceful restart, the old process
/// logs it as declined, and the new one counts it so.
#[test]
fn a_session_the_new_config_cannot_resume_is_left_in_graceful_restart() {
    let lab = Lab::new(SUITE);
    let (frr, mut gw) = setup(&lab);
    let moved = config(&lab)
        .replace(
            &format!("address = \"{}\"", lab.addr(2)),
            &format!("address = \"{}\"", lab.addr(3)),
        )
        .replace(
            "state_dir = ",
            &format!("metrics = \"{}:9179\"\nstate_dir = ", lab.addr(1)),
        );
    gw.write_config(&moved, &lab);
    gw.upgrade();
    let log = gw.process.log_text();
    assert!(
        log.contains("cannot resume the session the previous process had"),
        "{log}"
    );
    assert!(
        log.contains("the new process could not resume this session"),
        "{log}"
    );
    wait_for("FRR to keep our routes as a GR helper", T, || {
        let stale = frr.routes().iter().filter(|r| r.stale).count();
        (stale == 2).then_some(())
    });
    assert_eq!(notifications_received(&frr), 0, "no NOTIFICATION");
    let metrics = (lab.addr(1), 9179).into();
    let declined = || {
        let text = exposition(metrics)?;
        sample(&text, "gracewire_takeover_sessions{result=\"declined\"}")
    };
    wait_for("the declined session counted", T, || {
        (declined() == Some(1.0)).then_some(())
    });
}

#[test]
fn an_old_process_killed_halfway_leaves_the_session_in_graceful_restart() {
    let lab = Lab::new(SUITE);
    let (frr, mut gw) = setup(&lab);
    let (conn, frames, fds) = take(&lab, FORMAT);
    assert!(matches!(frames.last(), Some(Frame::Done)), "{frames:?}");
    gw.process.stop("KILL", Duration::from_secs(5));
    drop((conn, fds)); // the new process never got going: the connection closes
    wait_for("FRR to keep our routes as a GR helper", T, || {
        let stale = frr.routes().iter().filter(|r| r.stale).count();
        (stale == 2).then_some(())
    });
    assert_eq!(notifications_received(&frr), 0, "no NOTIFICATION");
    // The next start, even asked to take over, finds nobody serving the socket the killed
    // process left: it is a graceful restart, and FRR gets the routes again, fresh.
    gw.restart_with(&["--takeover"]);
    assert!(gw
        .process
        .log_text()
        .contains("no running gracewire to take over from"));
    wait_for("the routes refreshed after the restart", T, || {
        let r = frr.routes();
        (r.len() == 2 && r.iter().all(|r| !r.stale)).then_some(())
    });
    assert_eq!(notifications_received(&frr), 0);
}

#[test]
fn another_takeover_format_is_refused_and_the_old_process_stops_the_graceful_way() {
    let lab = Lab::new(SUITE);
    let (frr, mut gw) = setup(&lab);
    let (_conn, frames, fds) = take(&lab, FORMAT + 1);
    assert!(fds.is_empty());
    let Some(Frame::Refused { reason, .. }) = frames.first() else {
        panic!("{frames:?}");
    };
    assert!(
        reason.contains(&format!("the new one {}", FORMAT + 1)),
        "{reason}"
    );
    wait_for("the old process to stop", T, || {
        gw.process.child.as_mut().unwrap().try_wait().unwrap()
    });
    wait_for("FRR to keep our routes as a GR helper", T, || {
        let stale = frr.routes().iter().filter(|r| r.stale).count();
        (stale == 2).then_some(())
    });
    // It stopped as on SIGTERM: a graceful restart. With RFC 8538's N bit negotiated that
    // stop sends a Cease, which FRR keeps the routes through (they are stale, above).
    let log = gw.process.log_text();
    assert!(log.contains("takeover refused"), "{log}");
    gw.restart();
    wait_for("the routes refreshed after the restart", T, || {
        let r = frr.routes();
        (r.len() == 2 && r.iter().all(|r| !r.stale)).then_some(())
    });
}

#[test]
fn a_new_process_whose_config_fails_takes_nothing_and_the_old_one_serves_on() {
    let lab = Lab::new(SUITE);
    let (frr, gw) = setup(&lab);
    let (mark, updates) = (frr.session_mark(), frr.updates_received());
    gw.write_config("[global]\nasn = \"not a number\"\n", &lab);
    let out = std::process::Command::new(gracewire_e2e::gracewire::binary())
        .args(["run", "--takeover", "--config"])
        .arg(&gw.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("asn"), "the config error is named: {said}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !gw.process.log_text().contains("pausing sessions"),
        "nothing was asked of the old process"
    );
    assert_eq!(frr.session_mark(), mark);
    assert_eq!(frr.updates_received(), updates);
    assert_eq!(frr.route_count(), 2);
    assert_eq!(gw.neighbor("peer")["state"], "Established");
}
