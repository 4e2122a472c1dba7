//! A synthetic full table for the ingest benches (fixed seed, realistic prefix lengths and
//! AS paths), pre-encoded as UPDATEs, and the feeder end of the session that sends it.

use gracewire::wire::{
    AsPath, CodecContext, Family, LargeCommunity, Message, MpReach, NextHop, Origin,
    PathAttributes, Update,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The AS of route-bench's one feeder.
pub const FEEDER_ASN: u32 = 65010;

/// xorshift64*: a fixed-seed generator, so every run feeds the same table.
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Realistic prefix lengths: mostly /24, then /22-/23, /16-/21.
fn v4_len(r: &mut Rng) -> u8 {
    match r.below(100) {
        0..=59 => 24,
        60..=79 => 22 + r.below(2) as u8,
        80..=94 => 16 + r.below(6) as u8,
        _ => 8 + r.below(8) as u8,
    }
}

/// `n` attribute sets of paths starting at `asn`.
pub fn attribute_sets(r: &mut Rng, n: usize, asn: u32) -> Vec<PathAttributes> {
    (0..n)
        .map(|_| {
            let hops = 2 + r.below(9) as usize;
            let mut path = vec![asn];
            path.extend((1..hops).map(|_| 1 + r.below(400_000) as u32));
            PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from_sequence(path)),
                med: (r.below(2) == 0).then(|| r.below(1000) as u32),
                communities: (0..r.below(4))
                    .map(|_| ((r.below(65535) as u32) << 16) | r.below(1000) as u32)
                    .collect(),
                large_communities: (r.below(4) == 0)
                    .then(|| LargeCommunity {
                        global: asn,
                        local1: 1,
                        local2: r.below(100) as u32,
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            }
        })
        .collect()
}

/// `v4` IPv4 then `v6` IPv6 distinct prefixes, random in public space.
pub fn random_prefixes(r: &mut Rng, v4: usize, v6: usize) -> Vec<IpNet> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(v4 + v6);
    while seen.len() < v4 {
        let len = v4_len(r);
        // Public unicast space only: receivers drop martians (0/8, 10/8, 127/8, 224/3).
        let first = 1 + r.below(222);
        if first == 10 || first == 127 {
            continue;
        }
        let addr = Ipv4Addr::from((first << 24 | r.below(1 << 24)) as u32);
        let p = IpNet::V4(Ipv4Net::new(addr, len).unwrap().trunc());
        if seen.insert(p) {
            out.push(p);
        }
    }
    while seen.len() < v4 + v6 {
        let len = [32u8, 40, 44, 48, 48, 48][r.below(6) as usize];
        // Global unicast 2000::/3, random above the prefix length.
        let a = ((0x2000 | r.below(0x2000)) as u128) << 112 | (r.next_u64() as u128) << 48;
        let p = IpNet::V6(Ipv6Net::new(a.into(), len).unwrap().trunc());
        if seen.insert(p) {
            out.push(p);
        }
    }
    out
}

/// `prefixes`, each with one of `sets` at random, as UPDATE messages of at most 4096 octets,
/// then End-of-RIB for each family among them.
pub fn encode(r: &mut Rng, sets: &[PathAttributes], prefixes: &[IpNet]) -> Vec<u8> {
    let ctx = CodecContext {
        four_octet_as: true,
        extended_message: false,
        external: false,
    };
    let mut by_set: Vec<Vec<IpNet>> = vec![Vec::new(); sets.len()];
    for p in prefixes {
        by_set[r.below(sets.len() as u64) as usize].push(*p);
    }
    let mut out = Vec::new();
    for (set, prefixes) in sets.iter().zip(&by_set) {
        for family in Family::ALL {
            let of: Vec<IpNet> = prefixes
                .iter()
                .copied()
                .filter(|p| Family::of_prefix(p) == family)
                .collect();
            for chunk in of.chunks(match family {
                Family::Ipv4Unicast => 700,
                Family::Ipv6Unicast => 400,
            }) {
                let mut u = Update {
                    attributes: set.clone(),
                    ..Default::default()
                };
                match family {
                    Family::Ipv4Unicast => {
                        u.attributes.next_hop = Some(Ipv4Addr::new(192, 0, 2, 10));
                        u.nlri = chunk
                            .iter()
                            .filter_map(|p| if let IpNet::V4(p) = p { Some(*p) } else { None })
                            .collect();
                    }
                    Family::Ipv6Unicast => {
                        u.mp_reach = Some(MpReach {
                            family,
                            next_hop: NextHop::V6 {
                                global: "2001:db8::10".parse().unwrap(),
                                link_local: None,
                            },
                            nlri: chunk.to_vec(),
                        })
                    }
                }
                let bytes = Message::Update(u).encode(ctx);
                assert!(bytes.len() <= 4096);
                out.extend_from_slice(&bytes);
            }
        }
    }
    // End-of-RIB only for the families sent: a receiver may not have negotiated the other.
    for f in Family::ALL {
        if prefixes.iter().any(|p| Family::of_prefix(p) == f) {
            out.extend_from_slice(&Message::Update(Update::end_of_rib_marker(f)).encode(ctx));
        }
    }
    out
}

/// The ingest bench's table: `v4` + `v6` prefixes over 10,000 attribute sets from
/// `FEEDER_ASN`, always the same (fixed seed). Returns the octets and the prefix count.
pub fn table(v4: usize, v6: usize) -> (Vec<u8>, usize) {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let sets = attribute_sets(&mut r, 10_000, FEEDER_ASN);
    let prefixes = random_prefixes(&mut r, v4, v6);
    (encode(&mut r, &sets, &prefixes), v4 + v6)
}

/// Waits for the receiver's connection, completes the OPEN exchange as `asn`, keeps it
/// alive.
pub fn feeder_session(listener: &TcpListener, asn: u32) -> TcpStream {
    let (mut s, _) = listener.accept().expect("receiver connects");
    s.set_nodelay(true).ok();
    s.write_all(&crate::raw::open(asn, Ipv4Addr::new(192, 0, 2, 10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    // Read until we have their OPEN and KEEPALIVE (or at least OPEN).
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(n) = s.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
            if got.len() >= 19 && got[18] == 1 {
                break;
            }
        }
    }
    s.write_all(&crate::raw::message(4, &[])).unwrap();
    let mut reader = s.try_clone().unwrap();
    std::thread::spawn(move || {
        // Drain whatever the receiver sends (KEEPALIVEs), so its writes never block.
        let mut b = [0u8; 65536];
        while matches!(reader.read(&mut b), Ok(n) if n > 0) {}
    });
    let mut ka = s.try_clone().unwrap();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(2));
        if ka.write_all(&crate::raw::message(4, &[])).is_err() {
            return;
        }
    });
    s.set_read_timeout(None).ok();
    s
}
