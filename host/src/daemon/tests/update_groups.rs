//! Update groups through the daemon: alike peers share one Adj-RIB-Out, the others have their
//! own, and every peer still gets exactly its routes (and its own End-of-RIB, drain, refresh).

use super::harness::*;
use crate::api::ControlRequest;
use crate::config::community::GRACEFUL_SHUTDOWN;
use std::collections::BTreeSet;

fn config() -> String {
    let mut c = global("");
    for i in 0..8u8 {
        c += &peer(&format!("e{i}"), 10 + i, 65001 + i as u32, "");
    }
    c += &peer("ibgp", 30, 64512, "");
    c += &peer("v4only", 31, 65100, "families = [\"ipv4-unicast\"]");
    c + &announce("198.51.100.10/32", "")
        + &announce("198.51.100.11/32", "med = 5")
        + &announce("2001:db8:100::/64", "next_hop = \"2001:db8::1\"")
}

fn groups(h: &mut Harness) -> BTreeSet<Vec<String>> {
    let names: Vec<String> = (0..8)
        .map(|i| format!("e{i}"))
        .chain(["ibgp".into(), "v4only".into()])
        .collect();
    names.iter().map(|n| h.neighbor(n).update_group).collect()
}

#[test]
fn alike_peers_share_one_adj_rib_out_and_each_still_gets_exactly_its_routes() {
    let mut h = Harness::new(&config());
    for i in 0..8u8 {
        h.connect(&format!("e{i}"), &open(65001 + i as u32).gr(120));
    }
    h.connect("ibgp", &open(64512).gr(120));
    h.connect("v4only", &open(65100).gr(120));
    let e: Vec<String> = (0..8).map(|i| format!("e{i}")).collect();
    assert_eq!(
        groups(&mut h),
        BTreeSet::from([e.clone(), vec!["ibgp".into()], vec!["v4only".into()]]),
        "eBGP peers with both families alike; iBGP and the IPv4-only peer apart"
    );
    let text = h.daemon.metrics(&crate::api::ProcessStats::default());
    assert!(
        text.lines().any(|l| l == "gracewire_update_groups 3"),
        "{text}"
    );
    // The first eBGP peer's table was built; the seven evaluations that came out the same took
    // it as it was.
    assert!(
        text.lines()
            .any(|l| l == "gracewire_adj_rib_out_tables_reused_total 7"),
        "{text}"
    );

    for name in &e {
        let sent = h.take_updates(name);
        assert_eq!(sent.prefixes().len(), 3, "{name}");
        assert_eq!(sent.end_of_rib.len(), 2, "{name}: its own End-of-RIBs");
        let v4 = &sent.announced[&net("198.51.100.10/32")];
        assert_eq!(
            v4.as_path.as_ref().unwrap().path_length(),
            1,
            "{name}: eBGP rules"
        );
        assert_eq!(v4.local_pref, None);
    }
    let ibgp = h.take_updates("ibgp");
    assert_eq!(
        ibgp.announced[&net("198.51.100.10/32")].local_pref,
        Some(100)
    );
    let v4only = h.take_updates("v4only");
    assert_eq!(
        v4only.prefixes(),
        vec![net("198.51.100.10/32"), net("198.51.100.11/32")]
    );

    // A member whose session drops leaves the group, and comes back into it.
    h.disconnect("e3", crate::fsm::DownReason::ConnectionLost);
    assert!(h.neighbor("e3").update_group.is_empty());
    assert_eq!(h.neighbor("e0").update_group.len(), 7);
    h.connect("e3", &open(65004).gr(120));
    assert_eq!(h.neighbor("e0").update_group.len(), 8);
    assert_eq!(
        h.take_updates("e3").prefixes().len(),
        3,
        "its whole table again"
    );
    assert!(
        h.take_updates("e0").prefixes().is_empty(),
        "the others are sent nothing"
    );

    // Per-peer operations keep working on a shared table: drain re-announces to every peer.
    h.control(ControlRequest::Drain {
        wait_secs: Some(30),
        if_marked: false,
    });
    for name in e.iter().chain([&"ibgp".to_string()]) {
        let sent = h.take_updates(name);
        assert!(
            !sent.announced.is_empty()
                && sent
                    .announced
                    .values()
                    .all(|a| a.communities.contains(&GRACEFUL_SHUTDOWN)),
            "{name}"
        );
    }
    assert_eq!(groups(&mut h).len(), 3, "drained alike: still three groups");
}
