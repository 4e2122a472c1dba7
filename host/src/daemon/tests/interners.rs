//! Interned attribute sets are freed once no route uses them: a long-running speaker with
//! churning attributes must not keep every set it ever saw.

use super::harness::*;
use crate::fsm::DownReason;

fn config(communities: u32) -> String {
    let mut c = global("") + &peer("a", 2, 65001, "") + &peer("b", 3, 65002, "");
    for i in 0..20 {
        c += &announce(
            &format!("198.51.100.{i}/32"),
            &format!("communities = [\"64512:{}\"]", communities + i),
        );
    }
    c
}

#[test]
fn sent_sets_are_freed_after_reloads_change_the_communities() {
    let mut h = Harness::new(&config(0));
    h.connect("a", &open(65001));
    h.connect("b", &open(65002));
    let (sent, _) = h.daemon.interned_sets();
    assert_eq!(sent, 20, "one set per community, shared by both peers");
    for round in 1..50 {
        h.reload(&config(round * 100));
    }
    assert_eq!(h.daemon.interned_sets().0, 20, "only the sets in use");
    h.disconnect("a", DownReason::ConnectionLost);
    h.disconnect("b", DownReason::ConnectionLost);
    assert_eq!(h.daemon.interned_sets().0, 0, "nothing sent, nothing kept");
}

/// `n` routes from `peer_as`, each with an AS path (so an attribute set) of its own.
fn routes_with_distinct_paths(n: u32, peer_as: u32, first_as: u32) -> Vec<crate::wire::Update> {
    (0..n)
        .map(|i| {
            let prefix = format!("10.{}.{}.0/24", i / 256, i % 256);
            route(&[prefix.as_str()], &[peer_as, first_as + i])
        })
        .collect()
}

#[test]
fn received_sets_are_freed_after_withdrawals_and_replacements() {
    let mut h = Harness::new(&config(0));
    h.connect("a", &open(65001));
    for u in routes_with_distinct_paths(3000, 65001, 1000) {
        h.receive("a", u);
    }
    assert_eq!(h.daemon.interned_sets().1, 3000);
    // The same prefixes with new paths, five times over: each replaces a set.
    for round in 1..=5 {
        for u in routes_with_distinct_paths(3000, 65001, 1000 + round * 10_000) {
            h.receive("a", u);
        }
    }
    let (_, received) = h.daemon.interned_sets();
    assert!(
        received <= 2 * 3000,
        "bounded by what is in use, got {received}"
    );
    let prefixes: Vec<String> = (0..3000)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    for chunk in prefixes.chunks(500) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        h.receive("a", withdraw(&refs));
    }
    assert!(h.received("a").is_empty());
    assert!(
        h.daemon.interned_sets().1 <= 1024,
        "freed after the withdrawals: {:?}",
        h.daemon.interned_sets()
    );
}

#[test]
fn a_removed_or_flushed_peer_frees_its_sets_at_once() {
    let mut h = Harness::new(&config(0));
    h.connect("a", &open(65001));
    h.connect("b", &open(65002));
    for u in routes_with_distinct_paths(100, 65001, 1000) {
        h.receive("a", u);
    }
    for u in routes_with_distinct_paths(100, 65002, 5000) {
        h.receive("b", u);
    }
    assert_eq!(h.daemon.interned_sets().1, 200);
    h.reload(&(global("") + &peer("b", 3, 65002, "")));
    assert_eq!(h.daemon.interned_sets().1, 100, "a's sets freed with a");
    h.disconnect("b", DownReason::ConnectionLost); // no GR: flushed
    assert!(h.received("b").is_empty());
    h.reload(&(global("") + &peer("b", 3, 65002, "")));
    assert_eq!(h.daemon.interned_sets().1, 0);
}
