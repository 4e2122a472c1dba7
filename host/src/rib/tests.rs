use super::*;
use crate::wire::{decode_message, AsPath, CodecContext, Decoded, Family, Message, Origin};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};

fn attrs(local_pref: Option<u32>, path: Vec<u32>, med: Option<u32>) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(path)),
        local_pref,
        med,
        ..Default::default()
    }
}

fn route(i: &mut RouteInterner, a: PathAttributes) -> Route {
    Route {
        attrs: i.intern(RouteAttrs {
            next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
            path: a,
        }),
        stale: false,
    }
}

fn source(name: &str, id: u8, ibgp: bool) -> Arc<PathSource> {
    Arc::new(PathSource {
        peer: name.into(),
        peer_address: IpAddr::V4(Ipv4Addr::new(127, 0, 0, id)),
        peer_router_id: Ipv4Addr::new(10, 0, 0, id),
        ibgp,
    })
}

fn p(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// A RIB with peers `a`, `b` (eBGP) and `c` (iBGP), router IDs in that order.
fn rib3() -> (Rib, [PeerId; 3]) {
    let mut rib = Rib::default();
    let ids = [("a", 1, false), ("b", 2, false), ("c", 3, true)].map(|(n, id, ibgp)| {
        let peer = rib.add_peer();
        rib.set_source(peer, source(n, id, ibgp));
        peer
    });
    (rib, ids)
}

#[test]
fn interner_shares_equal_sets_and_collects_unused() {
    let mut i = AttrInterner::default();
    let a = i.intern(attrs(None, vec![1, 2], None));
    let b = i.intern(attrs(None, vec![1, 2], None));
    assert!(Arc::ptr_eq(&a, &b));
    let c = i.intern(attrs(None, vec![3], None));
    assert_eq!(i.len(), 2);
    drop(c);
    i.collect();
    assert_eq!(i.len(), 1);
}

#[test]
fn decision_process_order() {
    let mut i = RouteInterner::default();
    let (mut rib, [a, b, c]) = rib3();
    let best = |rib: &Rib, pfx: &IpNet| rib.best(pfx).map(|(peer, _)| peer);
    let pfx = p("198.51.100.0/24");
    assert!(rib.insert(a, pfx, route(&mut i, attrs(None, vec![1, 2, 3], None))));
    // Shorter AS path wins.
    assert!(rib.insert(b, pfx, route(&mut i, attrs(None, vec![4, 5], None))));
    assert_eq!(best(&rib, &pfx), Some(b));
    // Higher LOCAL_PREF beats path length.
    rib.insert(
        c,
        pfx,
        route(&mut i, attrs(Some(200), vec![6, 7, 8, 9], None)),
    );
    assert_eq!(best(&rib, &pfx), Some(c));
    // Every peer still has its own route.
    assert_eq!(
        rib.get(a, &pfx)
            .unwrap()
            .attrs
            .as_path
            .as_ref()
            .unwrap()
            .path_length(),
        3
    );
    // Lower MED wins between routes from the same neighbour AS.
    let q = p("203.0.113.0/24");
    rib.insert(a, q, route(&mut i, attrs(None, vec![1, 9], Some(50))));
    rib.insert(b, q, route(&mut i, attrs(None, vec![1, 8], Some(10))));
    assert_eq!(best(&rib, &q), Some(b));
    // A stale route loses to a fresh one.
    let mut stale = route(&mut i, attrs(Some(300), vec![1], None));
    stale.stale = true;
    rib.insert(a, q, stale);
    assert_eq!(best(&rib, &q), Some(b));
    // Withdrawing the best falls back to the next.
    assert!(rib.remove(c, &pfx));
    assert_eq!(best(&rib, &pfx), Some(b));
    assert!(!rib.remove(c, &pfx), "nothing left to remove");
    rib.remove(a, &pfx);
    rib.remove(b, &pfx);
    assert!(rib.best(&pfx).is_none());
    assert_eq!(rib.prefixes(), 1);
    assert_eq!((rib.len(a), rib.len(b), rib.len(c)), (1, 1, 0));
    // Each peer's view lists its routes once, with the best marked.
    let of_b: Vec<_> = rib.routes_of(b).map(|(pfx, _, best)| (pfx, best)).collect();
    assert_eq!(of_b, vec![(q, true)]);
    let of_a: Vec<_> = rib.routes_of(a).map(|(pfx, _, best)| (pfx, best)).collect();
    assert_eq!(of_a, vec![(q, false)]);
}

#[test]
fn stale_marking_and_sweep_per_family() {
    let mut i = RouteInterner::default();
    let (mut rib, [a, b, _]) = rib3();
    let one = route(&mut i, attrs(None, vec![1], None));
    for pfx in ["198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"] {
        rib.insert(a, p(pfx), one.clone());
    }
    // b has a worse route for one prefix: a stays best until its route goes stale.
    let longer = route(&mut i, attrs(None, vec![2, 2], None));
    rib.insert(b, p("203.0.113.0/24"), longer);
    assert_eq!(rib.best(&p("203.0.113.0/24")).unwrap().0, a);
    assert_eq!(rib.mark_stale(a, Family::Ipv4Unicast), 2);
    assert_eq!(
        rib.best(&p("203.0.113.0/24")).unwrap().0,
        b,
        "fresh beats stale"
    );
    assert!(rib.get(a, &p("2001:db8::/32")).is_some_and(|r| !r.stale));
    // The peer refreshes one route.
    rib.insert(a, p("198.51.100.0/24"), one);
    assert_eq!(
        rib.sweep_stale(a, Family::Ipv4Unicast),
        vec![p("203.0.113.0/24")]
    );
    assert_eq!(rib.len(a), 2);
    assert_eq!(rib.count(a, Family::Ipv6Unicast), 1);
    assert!(rib.sweep_stale(a, Family::Ipv6Unicast).is_empty());
    assert_eq!(rib.best(&p("203.0.113.0/24")).unwrap().0, b);
    // A removed peer takes its routes along; its slot is reused.
    assert_eq!(rib.remove_peer(a).len(), 2);
    assert_eq!(rib.prefixes(), 1);
    assert_eq!(rib.add_peer(), a);
    assert_eq!(rib.len(a), 0);
}

#[test]
fn adj_rib_out_sends_only_the_difference() {
    let mut i = AttrInterner::default();
    let a = i.intern(attrs(None, vec![64512], None));
    let b = i.intern(attrs(None, vec![64512], Some(5)));
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let out = |x: &Arc<PathAttributes>| OutRoute::new(nh, x.clone());
    let (mut groups, ctx) = (UpdateGroups::default(), CodecContext::default());
    let mut rib = AdjRibOut::default();
    let first: RouteTable = [(p("10.0.0.0/24"), out(&a)), (p("10.0.1.0/24"), out(&a))]
        .into_iter()
        .collect();
    assert_eq!(rib.replace(first.clone(), &mut groups, ctx).0.announced, 2);
    let (change, msgs) = rib.replace(first, &mut groups, ctx);
    assert!(change.is_empty() && msgs.is_empty());
    let second: RouteTable = [(p("10.0.0.0/24"), out(&b))].into_iter().collect();
    let diff = rib.diff_to(&second);
    assert_eq!(diff.announce, vec![(p("10.0.0.0/24"), out(&b))]);
    assert_eq!(diff.withdraw, vec![p("10.0.1.0/24")]);
    let (change, msgs) = rib.replace(second, &mut groups, ctx);
    assert_eq!((change.announced, change.withdrawn), (1, 1));
    assert_eq!(change.first_announced, [p("10.0.0.0/24")]);
    assert_eq!(change.first_withdrawn, [p("10.0.1.0/24")]);
    assert_eq!(
        msgs,
        diff.encode(ctx),
        "the UPDATEs of exactly that difference"
    );
}

/// Peers with the same outcome share one table and one encoding; one that diverges splits
/// off, and shares again once it converges.
#[test]
fn update_groups_share_alike_tables_and_encodings_split_and_rejoin() {
    let mut i = AttrInterner::default();
    let a = i.intern(attrs(None, vec![64512], None));
    let b = i.intern(attrs(None, vec![64512], Some(5)));
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    // Each peer's evaluation makes its own OutRoutes: equal by value, not by pointer.
    let table = |x: &Arc<PathAttributes>, n: u32| -> RouteTable {
        (0..n)
            .map(|k| {
                let net = ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (k << 8)), 24).unwrap();
                (IpNet::V4(net), OutRoute::new(nh, x.clone()))
            })
            .collect()
    };
    let (mut groups, ctx) = (UpdateGroups::default(), CodecContext::default());
    let mut peers: Vec<AdjRibOut> = (0..10).map(|_| AdjRibOut::default()).collect();
    let mut sent = Vec::new();
    for peer in &mut peers {
        sent.push(peer.replace(table(&a, 3000), &mut groups, ctx).1);
    }
    assert_eq!(groups.len(), 1, "ten peers, one table");
    assert!(peers.iter().all(|p| p.table_id() == peers[0].table_id()));
    assert_eq!(groups.stats.tables_shared, 9);
    assert_eq!(groups.stats.encodings_reused, 9, "encoded once");
    assert!(
        sent.iter().all(|m| m.len() == sent[0].len()
            && m.iter()
                .zip(&sent[0])
                .all(|(x, y)| x.as_ptr() == y.as_ptr())),
        "the very same bytes go to every member"
    );

    // Peer 3 gets a different outcome: it splits off with a table and an encoding of its own.
    let (change, msgs) = peers[3].replace(table(&b, 3000), &mut groups, ctx);
    assert_eq!(change.announced, 3000);
    assert_eq!(
        change.first_announced.len(),
        Change::NAMED,
        "the named prefixes are bounded"
    );
    assert!(!msgs.is_empty());
    assert_eq!(groups.len(), 2);
    assert_ne!(peers[3].table_id(), peers[0].table_id());
    assert_eq!(peers[3].len(), 3000);
    // The others are untouched and still share.
    assert_eq!(peers[0].get(&p("10.0.0.0/24")).unwrap().attrs, a);
    // It converges again: back in the group, and the diverged table is gone.
    let (change, _) = peers[3].replace(table(&a, 3000), &mut groups, ctx);
    assert_eq!(change.announced, 3000, "its own routes are sent back");
    assert_eq!(peers[3].table_id(), peers[0].table_id());
    groups.sweep();
    assert_eq!(groups.len(), 1);
    // A member whose session drops starts from nothing; the others keep the table.
    peers[5].clear();
    assert!(peers[5].is_empty());
    assert_eq!(peers[0].len(), 3000);
    assert_eq!(groups.len(), 1);
}

#[test]
fn diff_encoding_groups_by_attributes_and_splits_at_message_size() {
    let mut i = AttrInterner::default();
    let a = i.intern(attrs(None, vec![64512], None));
    let nh4 = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let nh6 = NextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    };
    let mut diff = RibDiff::default();
    for n in 0..3000u32 {
        let v4 =
            IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (n << 8)), 24).unwrap());
        diff.announce.push((v4, OutRoute::new(nh4, a.clone())));
    }
    diff.announce
        .push((p("2001:db8:1::/48"), OutRoute::new(nh6, a.clone())));
    diff.withdraw.push(p("192.0.2.0/24"));
    diff.withdraw.push(p("2001:db8:2::/48"));
    let ctx = CodecContext {
        four_octet_as: true,
        extended_message: false,
        external: false,
    };
    let msgs = diff.encode(ctx);
    let mut announced = 0;
    let mut withdrawn = 0;
    for m in &msgs {
        assert!(m.len() <= 4096);
        let Ok(Decoded::Message(Message::Update(u))) = decode_message(m, ctx) else {
            panic!()
        };
        assert!(u.treat_as_withdraw.is_none());
        announced += u.announced().count();
        withdrawn += u.withdrawals().len();
    }
    assert_eq!((announced, withdrawn), (3001, 2));
    // 3000 /24s at 4 octets each need 3 messages of at most 4096 octets, plus one for IPv6 and
    // two withdrawals.
    assert_eq!(msgs.len(), 3 + 1 + 2);
}

#[test]
fn long_lived_stale_routes_carry_llgr_stale_lose_to_everything_and_no_llgr_is_dropped() {
    use crate::wire::long_lived::{LLGR_STALE, NO_LLGR};
    let mut i = RouteInterner::default();
    let (mut rib, [a, b, c]) = rib3();
    let plain = route(&mut i, attrs(Some(300), vec![1], None));
    let mut no_llgr = attrs(Some(300), vec![1], None);
    no_llgr.communities = vec![NO_LLGR];
    let no_llgr = route(&mut i, no_llgr);
    rib.insert(a, p("198.51.100.0/24"), plain.clone());
    rib.insert(a, p("203.0.113.0/24"), no_llgr);
    // b: a worse route, and stale (b is restarting too, within its restart time).
    rib.insert(
        b,
        p("198.51.100.0/24"),
        route(&mut i, attrs(None, vec![2, 2, 2], None)),
    );
    rib.mark_stale(b, Family::Ipv4Unicast);
    rib.mark_stale(a, Family::Ipv4Unicast);
    assert_eq!(
        rib.best(&p("198.51.100.0/24")).unwrap().0,
        a,
        "both stale: LOCAL_PREF decides"
    );

    let dropped = rib.restamp_stale(a, Family::Ipv4Unicast, &mut |r| {
        (!r.communities.contains(&NO_LLGR)).then(|| {
            let mut r = (**r).clone();
            r.path.communities.push(LLGR_STALE);
            i.intern(r)
        })
    });
    assert_eq!(
        dropped,
        vec![p("203.0.113.0/24")],
        "NO_LLGR routes are not kept"
    );
    assert_eq!(rib.count(a, Family::Ipv4Unicast), 1);
    let kept = rib.get(a, &p("198.51.100.0/24")).unwrap();
    assert!(kept.stale && kept.attrs.communities.contains(&LLGR_STALE));
    assert_eq!(
        rib.best(&p("198.51.100.0/24")).unwrap().0,
        b,
        "an LLGR_STALE route loses even to a stale one"
    );
    // A route received with LLGR_STALE (its sender keeps it long-lived) is least preferred too.
    let mut tagged = attrs(Some(500), vec![3], None);
    tagged.communities = vec![LLGR_STALE];
    rib.insert(c, p("192.0.2.0/24"), route(&mut i, tagged));
    rib.insert(
        b,
        p("192.0.2.0/24"),
        route(&mut i, attrs(None, vec![2, 2, 2], None)),
    );
    assert_eq!(rib.best(&p("192.0.2.0/24")).unwrap().0, b);
}

/// Issue 24: maps keyed by peer data use a hasher with a key of its own per map, so no set of
/// prefixes collides in every table (unkeyed FxHash gave every map the same hash of a key).
#[test]
fn peer_keyed_maps_hash_the_same_prefix_differently() {
    let p: IpNet = "2001:db8::1/128".parse().unwrap();
    let hashes: std::collections::HashSet<u64> =
        (0..8).map(|_| PeerKeyed::default().hash_one(p)).collect();
    assert!(hashes.len() > 1, "eight maps hashed {p} alike");
}
