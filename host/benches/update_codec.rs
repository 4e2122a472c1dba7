//! UPDATE decode and encode throughput, in prefixes per second (criterion prints
//! "thrpt: … Kelem/s"; one element is one prefix).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gracewire::wire::{
    decode_message, AsPath, CodecContext, Decoded, Family, LargeCommunity, Message, MpReach,
    NextHop, Origin, PathAttributes, Update,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::hint::black_box;
use std::net::Ipv4Addr;

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(vec![65001, 3356, 1299, 64496, 64497])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        med: Some(10),
        communities: vec![0xfc00_0064, 0xfc00_00c8],
        large_communities: vec![LargeCommunity {
            global: 64512,
            local1: 1,
            local2: 2,
        }],
        ..Default::default()
    }
}

/// An UPDATE as big as fits 4096 octets: /24s for IPv4, /48s for IPv6 in MP_REACH.
fn full_update(family: Family) -> (Update, usize) {
    let mut u = Update {
        attributes: attrs(),
        ..Default::default()
    };
    match family {
        Family::Ipv4Unicast => {
            u.nlri = (0..900u32)
                .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
                .collect();
            (u.clone(), u.nlri.len())
        }
        Family::Ipv6Unicast => {
            u.attributes.next_hop = None;
            let nlri: Vec<IpNet> = (0..550u128)
                .map(|i| {
                    IpNet::V6(Ipv6Net::new((0x2001_0db8u128 << 96 | i << 80).into(), 48).unwrap())
                })
                .collect();
            let n = nlri.len();
            u.mp_reach = Some(MpReach {
                family,
                next_hop: NextHop::V6 {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: None,
                },
                nlri,
            });
            (u, n)
        }
    }
}

fn codec(c: &mut Criterion) {
    let ctx = CodecContext {
        four_octet_as: true,
        extended_message: false,
        external: true,
    };
    let mut group = c.benchmark_group("update");
    for family in Family::ALL {
        let (update, prefixes) = full_update(family);
        let msg = Message::Update(update);
        let bytes = msg.encode(ctx);
        assert!(bytes.len() <= 4096, "{} octets", bytes.len());
        group.throughput(Throughput::Elements(prefixes as u64));
        group.bench_with_input(BenchmarkId::new("decode", family), &bytes, |b, bytes| {
            b.iter(|| match decode_message(black_box(bytes), ctx) {
                Ok(Decoded::Message(m)) => m,
                _ => unreachable!(),
            })
        });
        group.bench_with_input(BenchmarkId::new("encode", family), &msg, |b, msg| {
            b.iter(|| black_box(msg).encode(ctx))
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
