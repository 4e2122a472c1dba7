//! Writes the fuzz seed corpus (`fuzz/corpus/<target>/`): what FRR, gobgpd and BIRD send to a
//! peer (their OPENs, UPDATEs with routes of both families and attributes, End-of-RIBs, refresh
//! answers, withdrawals and NOTIFICATIONs), captured by a raw listener standing in for
//! gracewire, on 4-octet and 2-octet AS sessions; the malformed messages of
//! `gracewire_e2e::bad_input`; the example config; a few plugin answers.
//!
//! `cargo run -p gracewire-e2e --bin corpus-capture -- fuzz/corpus` (root: it binds port 179).

use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::raw::message;
use gracewire_e2e::{bad_input, Lab, Router};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SUITE: u8 = 38;
const GRACEWIRE_ASN: u32 = 64512;

/// The context byte the `message` and `update` targets read first: bit 0 4-octet AS, bit 1
/// Extended Message, bit 2 eBGP.
fn ctx_byte(four_octet: bool, extended: bool) -> u8 {
    four_octet as u8 | (extended as u8) << 1 | 4
}

/// Our OPEN: IPv4 and IPv6 unicast, route refresh, enhanced route refresh, Extended Message,
/// Graceful Restart for both families and, if `four_octet`, 4-octet AS.
fn our_open(four_octet: bool) -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 2, 0, 70, 0, 6, 0];
    caps.extend_from_slice(&[64, 10, 0x80, 120, 0, 1, 1, 0x80, 0, 2, 1, 0x80]);
    if four_octet {
        caps.extend_from_slice(&[65, 4]);
        caps.extend_from_slice(&GRACEWIRE_ASN.to_be_bytes());
    }
    let mut body = vec![4];
    body.extend_from_slice(&(GRACEWIRE_ASN as u16).to_be_bytes());
    body.extend_from_slice(&90u16.to_be_bytes());
    body.extend_from_slice(&[192, 0, 2, 1]);
    body.push(caps.len() as u8 + 2);
    body.extend_from_slice(&[2, caps.len() as u8]);
    body.extend_from_slice(&caps);
    message(1, &body)
}

/// Splits a byte stream into whole BGP messages.
fn frames(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while bytes.len() >= 19 {
        let len = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
        if len < 19 || bytes.len() < len {
            break;
        }
        out.push(bytes[..len].to_vec());
        bytes = &bytes[len..];
    }
    out
}

/// Reads what arrives for `time`, answering nothing.
fn read_for(stream: &mut TcpStream, time: Duration, into: &mut Vec<u8>) -> bool {
    let end = Instant::now() + time;
    let mut chunk = [0u8; 65536];
    while Instant::now() < end {
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => into.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return false,
        }
    }
    true
}

/// One captured session with `router`: everything it sent, as one stream.
fn capture<R: Router>(router: &mut R, lab: &Lab, four_octet: bool, extra: impl Fn(&R)) -> Vec<u8> {
    let listener = TcpListener::bind(SocketAddr::from((lab.addr(1), 179))).expect("bind :179");
    listener.set_nonblocking(true).unwrap();
    router.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{} never connected: {e}", router.kind()),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    stream.write_all(&our_open(four_octet)).unwrap();
    stream.write_all(&message(4, &[])).unwrap();
    let keepalive = |s: &mut TcpStream| s.write_all(&message(4, &[])).is_ok();
    read_for(&mut stream, Duration::from_secs(3), &mut got);
    extra(router);
    read_for(&mut stream, Duration::from_secs(1), &mut got);
    keepalive(&mut stream);
    // Route refresh for both families: the router sends its table again.
    stream.write_all(&message(5, &[0, 1, 0, 1])).unwrap();
    stream.write_all(&message(5, &[0, 2, 0, 1])).unwrap();
    read_for(&mut stream, Duration::from_secs(2), &mut got);
    keepalive(&mut stream);
    router.withdraw("203.0.113.0/24");
    router.withdraw("2001:db8:100::/48");
    read_for(&mut stream, Duration::from_secs(3), &mut got);
    // A message of unknown type: the router's NOTIFICATION.
    let _ = stream.write_all(&message(9, &[]));
    read_for(&mut stream, Duration::from_secs(2), &mut got);
    router.kill();
    got
}

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: corpus-capture DIR"));
    let mut count = 0;
    for (kind, four_octet) in [
        ("frr", true),
        ("frr", false),
        ("gobgp", true),
        ("gobgp", false),
        ("bird", true),
        ("bird", false),
    ] {
        let lab = Lab::new(SUITE);
        // On a 2-octet session the router's AS is one that needs 4 octets: AS_TRANS and AS4_PATH.
        let asn = if four_octet { 65001 } else { 4_200_000_001 };
        let mut spec = lab.spec(2, asn, GRACEWIRE_ASN);
        spec.originate = vec![
            ("203.0.113.0/24".into(), lab.addr(2).to_string()),
            ("198.51.100.0/24".into(), lab.addr(2).to_string()),
            ("2001:db8:100::/48".into(), "2001:db8::2".into()),
            ("2001:db8:200::/48".into(), "2001:db8::2".into()),
        ];
        let stream = match kind {
            "frr" => capture(&mut Frr::new(&lab, spec), &lab, four_octet, |_| {}),
            "bird" => capture(&mut Bird::new(&lab, spec), &lab, four_octet, |_| {}),
            _ => capture(&mut GoBgp::new(&lab, spec), &lab, four_octet, |g| {
                // A route with every attribute gobgpd's CLI can set.
                let next_hop = g.spec().addr.to_string();
                g.cli_run(&[
                    "global",
                    "rib",
                    "add",
                    "192.0.2.128/25",
                    "nexthop",
                    &next_hop,
                    "origin",
                    "egp",
                    "med",
                    "10",
                    "local-pref",
                    "200",
                    "community",
                    "65001:100,65001:200",
                    "large-community",
                    "65001:1:2",
                    "aggregator",
                    "65001:192.0.2.2",
                    "-a",
                    "ipv4",
                ])
                .expect("gobgp global rib add");
            }),
        };
        let all = frames(&stream);
        let open = all.iter().find(|f| f[18] == 1).expect("the router's OPEN");
        let extended = open.windows(2).any(|w| w == [6, 0]);
        let ctx = ctx_byte(four_octet, extended);
        let tag = format!("{kind}-{}", if four_octet { "as4" } else { "as2" });
        write(
            &out,
            "message",
            &format!("{tag}-stream"),
            &[&[ctx][..], &stream].concat(),
        );
        write(&out, "open", &tag, &open[19..]);
        let mut fsm = vec![0, 2];
        for (i, f) in all.iter().enumerate() {
            write(
                &out,
                "message",
                &format!("{tag}-{i:02}"),
                &[&[ctx][..], f].concat(),
            );
            if f[18] == 2 {
                write(
                    &out,
                    "update",
                    &format!("{tag}-{i:02}"),
                    &[&[ctx][..], &f[19..]].concat(),
                );
            }
            if f.len() <= 255 {
                fsm.extend_from_slice(&[15, f.len() as u8]);
                fsm.extend_from_slice(f);
            }
        }
        write(&out, "fsm", &tag, &fsm);
        println!("{tag}: {} messages, {} octets", all.len(), stream.len());
        count += all.len();
    }
    for (i, c) in bad_input::cases().iter().enumerate() {
        write(
            &out,
            "message",
            &format!("malformed-{i:02}"),
            &[&[ctx_byte(true, false)][..], &c.bytes].concat(),
        );
        if c.bytes.len() >= 19 && c.bytes[18] == 2 {
            write(
                &out,
                "update",
                &format!("malformed-{i:02}"),
                &[&[ctx_byte(true, false)][..], &c.bytes[19..]].concat(),
            );
        }
        if c.bytes.len() >= 19 && c.bytes[18] == 1 {
            write(&out, "open", &format!("malformed-{i:02}"), &c.bytes[19..]);
        }
    }
    let example =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gracewire.toml"))
            .unwrap();
    write(&out, "config", "example", &example);
    let announces: String = (0..20).map(|i| format!("[[announce]]\nprefix = \"10.0.{i}.0/24\"\nnext_hop = \"192.0.2.1\"\nlabels = {{ app = \"a{}\" }}\n", i % 3)).collect();
    write(
        &out,
        "config",
        "announces",
        format!("[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n{announces}").as_bytes(),
    );
    write(&out, "config", "peer-options", b"[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n[[peers]]\naddress = \"192.0.2.2\"\nasn = 65001\nmax_prefixes = { ipv4-unicast = 100 }\npassword = \"x\"\nttl_security_hops = 1\n");
    write(
        &out,
        "config",
        "bad",
        b"[global]\nasn = \"x\"\n[[announce]]\nprefix = \"10.0.0.0/33\"\n",
    );
    // plugin_answer: routes, label sets, outcomes, kind (per route or per label set), then bytes.
    write(
        &out,
        "plugin_answer",
        "per-route",
        &[8, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 0, 1, 2, 0, 1],
    );
    write(
        &out,
        "plugin_answer",
        "per-set",
        &[8, 2, 3, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 1],
    );
    write(&out, "plugin_answer", "too-few", &[8, 2, 3, 0, 1, 2]);
    println!(
        "{count} captured messages, {} malformed cases",
        bad_input::cases().len()
    );
}
