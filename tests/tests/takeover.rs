//! Hitless upgrade (`gracewire run --takeover`) against real routers with Graceful Restart
//! off, polled every 100 ms: the session is never reset, no route goes missing, none is sent
//! again, and an upgrade whose config changes one announcement sends exactly that change.

use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::plugin_lab::plugin_config;
use gracewire_e2e::{wait_for, Gracewire, Lab, Router};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SUITE: u8 = 46;
const T: Duration = Duration::from_secs(30);
const UPGRADES: usize = 20;

fn routes(med_of_first: u32) -> String {
    let mut out = String::new();
    for (i, prefix) in ["198.51.100.10/32", "198.51.100.11/32", "2001:db8:100::/64"]
        .iter()
        .enumerate()
    {
        out += &format!("\n[[announce]]\nprefix = \"{prefix}\"\n");
        if prefix.contains('.') {
            out += "next_hop = \"192.0.2.1\"\n";
        }
        if i == 0 {
            out += &format!("med = {med_of_first}\n");
        }
    }
    out
}

/// What the poller saw: the fewest of our routes the router had at any poll, and the polls.
struct Polled {
    fewest: usize,
    polls: usize,
}

/// Polls `router` every 100 ms while `upgrade` runs.
fn polling<R: Router>(router: &R, upgrade: impl FnOnce()) -> Polled {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let poller = s.spawn(|| {
            let mut seen = Polled {
                fewest: usize::MAX,
                polls: 0,
            };
            while !done.load(Ordering::Relaxed) {
                seen.fewest = seen.fewest.min(router.routes().len());
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

#[test]
fn upgrades_next_to_gobgpd_without_gr_are_invisible_on_the_wire() {
    let lab = Lab::new(SUITE);
    let mut spec = lab.spec(2, 65001, 64512);
    spec.graceful_restart = false;
    spec.originate = vec![("203.0.113.0/24".into(), lab.addr(2).to_string())];
    let mut gobgp = GoBgp::new(&lab, spec);
    gobgp.start();
    let config = plugin_config(&lab, "", &routes(10));
    let mut gw = Gracewire::start(&lab, &config);
    wait_for("3 routes at gobgpd", T, || {
        (gobgp.routes().len() == 3).then_some(())
    });
    wait_for("gobgpd's route at gracewire", T, || {
        gw.has_route("peer", "203.0.113.0/24").then_some(())
    });
    let ages = gobgp.ages();
    std::thread::sleep(Duration::from_millis(1500)); // a path sent again would get a new age

    let mut took = Vec::new();
    let seen = polling(&gobgp, || {
        for _ in 0..UPGRADES {
            took.push(gw.upgrade());
        }
    });
    took.sort();
    println!(
        "{UPGRADES} upgrades: {} polls, fewest routes seen {}, upgrade (start to old exit) median {:?}, max {:?}",
        seen.polls,
        seen.fewest,
        took[took.len() / 2],
        took[took.len() - 1]
    );
    // The log says which way each session went: all taken over, none declined.
    let log = gw.process.log_text();
    assert_eq!(
        log.matches("session handed over").count(),
        UPGRADES,
        "{log}"
    );
    assert_eq!(
        log.matches("session taken over from the previous process")
            .count(),
        UPGRADES
    );
    assert!(!log.contains("cannot resume"), "{log}");
    assert_eq!(seen.fewest, 3, "a route went missing during an upgrade");
    assert_eq!(gobgp.opens_received(), 1, "the same session throughout");
    assert_eq!(gobgp.ages(), ages, "no route was sent again");
    assert!(
        gw.has_route("peer", "203.0.113.0/24"),
        "the peer's route came along (gobgpd did not send it again)"
    );
    let uptime = gw.neighbor("peer")["uptime_secs"].as_u64().unwrap();
    assert!(uptime >= 2, "the session's age came along: {uptime}");

    // An upgrade whose config changes one announcement sends exactly that change.
    gw.write_config(&plugin_config(&lab, "", &routes(20)), &lab);
    gw.upgrade();
    wait_for("the new MED at gobgpd", T, || {
        let r = gobgp.routes();
        r.iter()
            .any(|r| r.prefix == "198.51.100.10/32" && r.med == Some(20))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let after = gobgp.ages();
    for (prefix, age) in &ages {
        if prefix != "198.51.100.10/32" {
            assert_eq!(
                after[prefix], *age,
                "{prefix}: unchanged, and not sent again"
            );
        }
    }
    assert_eq!(gobgp.opens_received(), 1, "still the same session");
}
