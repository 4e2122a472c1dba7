//! Long-lived GR (RFC 9494) through the daemon: the capability we send, and the helper keeping a
//! peer's routes as LLGR_STALE after its restart time.

use super::harness::*;
use crate::fsm::DownReason;
use crate::wire::long_lived::NO_LLGR;
use crate::wire::{Capability, LongLivedCap};
use std::time::Duration;

fn next_long_lived(h: &mut Harness, name: &str) -> Option<LongLivedCap> {
    h.next_open(name)
        .capabilities
        .into_iter()
        .find_map(|c| match c {
            Capability::LongLivedGracefulRestart(l) => Some(l),
            _ => None,
        })
}

#[test]
fn the_llgr_capability_follows_global_and_peer_stale_times_and_needs_gr() {
    let config = global("long_lived_stale_time = 3600")
        + &peer("a", 2, 65001, "")
        + &peer("b", 3, 65002, "long_lived_stale_time = 0")
        + &peer("c", 4, 65003, "long_lived_stale_time = 60");
    let mut h = Harness::new(&config);
    let a = next_long_lived(&mut h, "a").expect("global stale time");
    assert_eq!(
        a.families
            .iter()
            .map(|f| (f.family(), f.forwarding_preserved, f.stale_time))
            .collect::<Vec<_>>(),
        vec![(Some(V4), true, 3600), (Some(V6), true, 3600)],
        "each family with the F bit of the GR capability"
    );
    assert_eq!(next_long_lived(&mut h, "b"), None, "0 turns it off");
    assert_eq!(
        next_long_lived(&mut h, "c").unwrap().families[0].stale_time,
        60
    );

    let err = crate::config::Config::parse(
        &(global("")
            + &peer(
                "a",
                2,
                65001,
                "graceful_restart = false\nlong_lived_stale_time = 60",
            )),
        std::path::Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("long-lived GR needs graceful_restart = true"),
        "{err}"
    );
    let err = crate::config::Config::parse(
        &global("long_lived_stale_time = 16777216"),
        std::path::Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("between 0 and 16777215"), "{err}");
}

#[test]
fn past_its_restart_time_a_peers_routes_are_kept_llgr_stale_least_preferred_until_the_stale_time_ends(
) {
    let mut h = Harness::new(&(global("") + &peer("a", 2, 65001, "") + &peer("b", 3, 65002, "")));
    h.connect("a", &open(65001).gr(30).long_lived(600));
    h.connect("b", &open(65002));
    h.receive("a", route(&["203.0.113.0/24", "198.51.100.0/24"], &[65001]));
    let mut no_llgr = route(&["192.0.2.0/24"], &[65001]);
    no_llgr.attributes.communities = vec![NO_LLGR];
    h.receive("a", no_llgr);
    // b: the same prefix with a longer path; it loses while a's route is fresh or merely stale.
    h.receive("b", route(&["203.0.113.0/24"], &[65002, 65002, 65002]));
    let best_of = |h: &mut Harness, p: &str| {
        h.routes()
            .2
            .into_iter()
            .find(|r| r.best && r.prefix == net(p))
            .map(|r| r.peer)
    };
    assert_eq!(best_of(&mut h, "203.0.113.0/24").as_deref(), Some("a"));

    h.disconnect("a", DownReason::ConnectionLost);
    h.advance(Duration::from_secs(29));
    assert_eq!(
        h.received("a").len(),
        3,
        "GR: all kept for the restart time"
    );
    assert!(!h.neighbor("a").long_lived_stale);
    assert_eq!(
        best_of(&mut h, "203.0.113.0/24").as_deref(),
        Some("b"),
        "fresh beats stale"
    );

    h.advance(Duration::from_secs(2));
    let kept = h.routes().2;
    let kept: Vec<_> = kept.iter().filter(|r| r.peer == "a").collect();
    assert_eq!(
        kept.iter().map(|r| r.prefix).collect::<Vec<_>>(),
        vec![net("198.51.100.0/24"), net("203.0.113.0/24")],
        "the NO_LLGR route is dropped at the restart time"
    );
    assert!(kept
        .iter()
        .all(|r| r.stale && r.communities == vec!["65535:6".to_string()]));
    assert!(h.neighbor("a").long_lived_stale);
    assert_eq!(
        best_of(&mut h, "198.51.100.0/24").as_deref(),
        Some("a"),
        "the only path"
    );
    // gracewire sends no learned route to any peer, LLGR_STALE or not (b has no LLGR).
    let to_b = h.take_updates("b");
    assert!(
        to_b.prefixes().is_empty() && to_b.withdrawn.is_empty(),
        "{:?}",
        to_b.prefixes()
    );

    h.advance(Duration::from_secs(598));
    assert_eq!(
        h.received("a").len(),
        2,
        "kept for the long-lived stale time"
    );
    h.advance(Duration::from_secs(2));
    assert!(h.received("a").is_empty(), "flushed once it is over");
    assert!(h.neighbor("a").stale_families.is_empty());
}

#[test]
fn a_peer_back_within_its_long_lived_time_refreshes_and_loses_nothing() {
    let mut h = Harness::new(&(global("") + &peer("a", 2, 65001, "")));
    let peer_open = open(65001).gr(5).long_lived(3600);
    h.connect("a", &peer_open);
    h.receive("a", route(&["203.0.113.0/24", "198.51.100.0/24"], &[65001]));
    h.end_of_rib("a", V4);
    h.disconnect("a", DownReason::ConnectionLost);
    h.advance(Duration::from_secs(60));
    assert!(h.neighbor("a").long_lived_stale);
    h.connect("a", &peer_open);
    assert_eq!(h.received("a").len(), 2, "kept until its End-of-RIB");
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.end_of_rib("a", V4);
    let routes = h.routes().2;
    assert_eq!(routes.len(), 1, "what it did not send again is swept");
    assert!(
        !routes[0].stale && routes[0].communities.is_empty(),
        "refreshed: no LLGR_STALE"
    );
    h.advance(Duration::from_secs(3600));
    assert_eq!(
        h.received("a").len(),
        1,
        "the long-lived timer died with the refresh"
    );
}
