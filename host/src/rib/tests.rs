use super::*;
use crate::wire::{decode_message, AsPath, CodecContext, Decoded, Message, Origin};
use std::collections::BTreeMap;
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
    let mut loc = LocRib::default();
    let pfx = p("198.51.100.0/24");
    assert!(loc.update(
        pfx,
        &source("a", 1, false),
        Some(route(&mut i, attrs(None, vec![1, 2, 3], None)))
    ));
    // Shorter AS path wins.
    assert!(loc.update(
        pfx,
        &source("b", 2, false),
        Some(route(&mut i, attrs(None, vec![4, 5], None)))
    ));
    assert_eq!(loc.best(&pfx).unwrap().0.peer, "b");
    // Higher LOCAL_PREF beats path length.
    assert!(loc.update(
        pfx,
        &source("c", 3, true),
        Some(route(&mut i, attrs(Some(200), vec![6, 7, 8, 9], None)))
    ));
    assert_eq!(loc.best(&pfx).unwrap().0.peer, "c");
    // Lower MED wins between routes from the same neighbour AS.
    let q = p("203.0.113.0/24");
    loc.update(
        q,
        &source("a", 1, false),
        Some(route(&mut i, attrs(None, vec![1, 9], Some(50)))),
    );
    loc.update(
        q,
        &source("b", 2, false),
        Some(route(&mut i, attrs(None, vec![1, 8], Some(10)))),
    );
    assert_eq!(loc.best(&q).unwrap().0.peer, "b");
    // A stale route loses to a fresh one.
    let mut stale = route(&mut i, attrs(Some(300), vec![1], None));
    stale.stale = true;
    loc.update(q, &source("a", 1, false), Some(stale));
    assert_eq!(loc.best(&q).unwrap().0.peer, "b");
    // Withdrawing the best falls back to the next.
    assert!(loc.update(pfx, &source("c", 3, true), None));
    assert_eq!(loc.best(&pfx).unwrap().0.peer, "b");
    assert!(!loc.update(pfx, &source("zz", 9, false), None), "no change");
    loc.update(pfx, &source("a", 1, false), None);
    loc.update(pfx, &source("b", 2, false), None);
    assert!(loc.best(&pfx).is_none());
    assert_eq!(loc.len(), 1);
}

#[test]
fn stale_marking_and_sweep_per_family() {
    let mut i = RouteInterner::default();
    let mut rib = AdjRibIn::default();
    rib.insert(
        p("198.51.100.0/24"),
        route(&mut i, attrs(None, vec![1], None)),
    );
    rib.insert(
        p("203.0.113.0/24"),
        route(&mut i, attrs(None, vec![1], None)),
    );
    rib.insert(
        p("2001:db8::/32"),
        route(&mut i, attrs(None, vec![1], None)),
    );
    assert_eq!(rib.mark_stale(Family::Ipv4Unicast), 2);
    // The peer refreshes one route.
    rib.insert(
        p("198.51.100.0/24"),
        route(&mut i, attrs(None, vec![1], None)),
    );
    assert_eq!(
        rib.sweep_stale(Family::Ipv4Unicast),
        vec![p("203.0.113.0/24")]
    );
    assert_eq!(rib.len(), 2);
    assert!(rib.sweep_stale(Family::Ipv6Unicast).is_empty());
}

#[test]
fn adj_rib_out_sends_only_the_difference() {
    let mut i = AttrInterner::default();
    let a = i.intern(attrs(None, vec![64512], None));
    let b = i.intern(attrs(None, vec![64512], Some(5)));
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let out = |x: &Arc<PathAttributes>| OutRoute {
        next_hop: nh,
        attrs: x.clone(),
    };
    let mut rib = AdjRibOut::default();
    let first: BTreeMap<_, _> = [(p("10.0.0.0/24"), out(&a)), (p("10.0.1.0/24"), out(&a))].into();
    assert_eq!(rib.replace(first.clone()).announce.len(), 2);
    assert!(rib.replace(first).is_empty());
    let second: BTreeMap<_, _> = [(p("10.0.0.0/24"), out(&b))].into();
    let diff = rib.replace(second);
    assert_eq!(diff.announce, vec![(p("10.0.0.0/24"), out(&b))]);
    assert_eq!(diff.withdraw, vec![p("10.0.1.0/24")]);
}

#[test]
fn encode_diff_groups_by_attributes_and_splits_at_message_size() {
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
        diff.announce.push((
            v4,
            OutRoute {
                next_hop: nh4,
                attrs: a.clone(),
            },
        ));
    }
    diff.announce.push((
        p("2001:db8:1::/48"),
        OutRoute {
            next_hop: nh6,
            attrs: a.clone(),
        },
    ));
    diff.withdraw.push(p("192.0.2.0/24"));
    diff.withdraw.push(p("2001:db8:2::/48"));
    let ctx = CodecContext {
        four_octet_as: true,
        extended_message: false,
    };
    let msgs = encode_diff(&diff, ctx);
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
