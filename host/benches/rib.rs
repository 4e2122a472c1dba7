//! Adj-RIB-Out diff and its encoding: the work behind every policy change or plugin swap.
//! 100k announced routes, of which 1% change (criterion prints routes per second).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gracewire::rib::{AdjRibOut, AttrInterner, OutRoutes, RouteTable, UpdateGroups};
use gracewire::wire::{AsPath, CodecContext, NextHop, Origin, PathAttributes};
use ipnet::{IpNet, Ipv4Net};
use std::hint::black_box;
use std::net::Ipv4Addr;

const ROUTES: u32 = 100_000;

fn table(interner: &mut AttrInterner, changed_med: u32) -> RouteTable {
    let base = interner.intern(PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(vec![64512])),
        communities: vec![0xfc00_0064],
        ..Default::default()
    });
    let changed = interner.intern(PathAttributes {
        med: Some(changed_med),
        ..(*base).clone()
    });
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut shared = OutRoutes::default();
    (0..ROUTES)
        .map(|i| {
            let p = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap());
            let attrs = if i % 100 == 0 {
                changed.clone()
            } else {
                base.clone()
            };
            (p, shared.get(nh, attrs))
        })
        .collect()
}

fn diff(c: &mut Criterion) {
    let mut interner = AttrInterner::default();
    let (a, b) = (table(&mut interner, 1), table(&mut interner, 2));
    let ctx = CodecContext {
        four_octet_as: true,
        extended_message: false,
        external: true,
    };
    let mut group = c.benchmark_group("adj_rib_out");
    group.throughput(Throughput::Elements(ROUTES as u64));
    // The diff, sharing the new table with the update group, and encoding what changed.
    group.bench_function("replace_1pct_changed_and_encode", |bench| {
        bench.iter_batched(
            || {
                let mut groups = UpdateGroups::default();
                let mut out = AdjRibOut::default();
                out.replace(a.clone(), &mut groups, ctx);
                (out, groups, b.clone())
            },
            |(mut out, mut groups, next)| black_box(out.replace(next, &mut groups, ctx)),
            criterion::BatchSize::LargeInput,
        )
    });
    let full = AdjRibOut::default().diff_to(&a);
    group.bench_function("encode_full_table", |bench| {
        bench.iter(|| black_box(full.encode(ctx)))
    });
    group.finish();
}

criterion_group!(benches, diff);
criterion_main!(benches);
