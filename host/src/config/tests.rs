use super::*;
use std::collections::HashSet;
use std::path::Path;

const GOOD: &str = r#"
[global]
asn = 64512
router_id = "192.0.2.1"
listen = "127.0.0.1:1179"
state_dir = "/tmp/gw"

[[peers]]
name = "tor1"
address = "127.0.0.2"
asn = 65001
vendor = "frr"

[[peers]]
address = "::1"
port = 1790
asn = 64512
families = ["ipv6-unicast"]
passive = true
hold_time = 0

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"
communities = ["64512:100", "large:64512:1:2"]
local_pref = 100
labels = { pool = "public", service = "web" }
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("gw.toml"))
}

#[test]
fn good_config_parses_with_defaults() {
    let c = parse(GOOD).unwrap();
    let peers: Vec<_> = c.peers().collect();
    assert_eq!(peers[0].port, 179);
    assert_eq!(peers[0].hold_time, HoldTime(90));
    assert_eq!(peers[0].families(), Family::ALL.to_vec());
    assert!(peers[0].graceful_restart);
    assert_eq!(peers[1].name(), "::1");
    assert_eq!(
        c.global.control_socket(),
        PathBuf::from("/tmp/gw/gracewire.sock")
    );
    let a = c.announcements().next().unwrap();
    assert_eq!(a.attrs.labels["pool"], "public");
    assert_eq!(a.attrs.communities.len(), 2);
}

#[test]
fn a_peer_asn_is_a_number_or_a_kind() {
    use crate::fsm::RemoteAs;
    for (text, want) in [
        ("65001", RemoteAs::Is(65001)),
        ("\"external\"", RemoteAs::External),
        ("\"internal\"", RemoteAs::Internal),
    ] {
        let c = parse(&GOOD.replace("asn = 65001", &format!("asn = {text}"))).unwrap();
        assert_eq!(c.peers[0].get_ref().asn, want, "{text}");
    }
    let err = parse(&GOOD.replace("asn = 65001", "asn = \"any\"")).unwrap_err();
    assert!(
        err.to_string()
            .contains("asn `any`: a number, \"external\" (any AS but ours) or \"internal\" (ours)"),
        "{err}"
    );
    let err = parse(&GOOD.replace("asn = 65001", "asn = 23456")).unwrap_err();
    assert!(err.to_string().contains("AS_TRANS"), "{err}");
    // eBGP by kind: TTL 1 on a direct session, as for a numbered eBGP peer.
    let c = parse(&GOOD.replace("asn = 65001", "asn = \"external\"")).unwrap();
    assert_eq!(c.peers[0].get_ref().ttl(64512), (Some(1), None));
    let c = parse(&GOOD.replace("asn = 65001", "asn = \"internal\"")).unwrap();
    assert_eq!(c.peers[0].get_ref().ttl(64512), (None, None));
}

/// Each broken config must be refused with the file, the line and the field named.
#[test]
fn broken_configs_name_file_line_and_field() {
    let cases: [(&str, &str, &str, &str); 16] = [
        ("bad ASN", "asn = 64512", "asn = 0", "global.asn"),
        (
            "ASN kind misspelt",
            "asn = 65001",
            "asn = \"externl\"",
            "peers[0].asn",
        ),
        (
            "ASN too large",
            "asn = 65001",
            "asn = 4294967296",
            "peers[0].asn",
        ),
        (
            "bad prefix",
            "\"198.51.100.10/32\"",
            "\"198.51.100.300/32\"",
            "announce[0].prefix",
        ),
        (
            "host bits",
            "\"198.51.100.10/32\"",
            "\"198.51.100.10/24\"",
            "announce[0].prefix",
        ),
        (
            "duplicate peer",
            "address = \"::1\"\nport = 1790",
            "address = \"127.0.0.2\"",
            "peers[1].address",
        ),
        (
            "unknown key",
            "vendor = \"frr\"",
            "vendr = \"frr\"",
            "peers[0]",
        ),
        (
            "bad router id",
            "\"192.0.2.1\"\nlisten",
            "\"0.0.0.0\"\nlisten",
            "global.router_id",
        ),
        (
            "hold time 2",
            "hold_time = 0",
            "hold_time = 2",
            "peers[1].hold_time",
        ),
        (
            "unknown family",
            "[\"ipv6-unicast\"]",
            "[\"ipv6-multicast\"]",
            "peers[1].families[0]",
        ),
        (
            "next hop family",
            "next_hop = \"192.0.2.1\"",
            "next_hop = \"2001:db8::1\"",
            "announce[0].next_hop",
        ),
        (
            "bad community",
            "\"64512:100\"",
            "\"64512:70000\"",
            "announce[0].communities[0]",
        ),
        (
            "unknown role",
            "vendor = \"frr\"",
            "role = \"upstream\"",
            "peers[0].role",
        ),
        (
            "role on iBGP",
            "port = 1790",
            "port = 1790\nrole = \"peer\"",
            "peers[1].role",
        ),
        (
            "strict role without a role",
            "vendor = \"frr\"",
            "strict_role = true",
            "peers[0].strict_role",
        ),
        (
            "wrong type",
            "passive = true",
            "passive = \"yes\"",
            "peers[1].passive",
        ),
    ];
    for (what, from, to, field) in cases {
        assert!(GOOD.contains(from), "{what}: test pattern missing");
        let text = GOOD.replacen(from, to, 1);
        let changed_at = GOOD.find(from).unwrap();
        let entry_at = text[..changed_at].rfind("[").unwrap();
        let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
        let err = parse(&text).expect_err(what);
        let shown = err.to_string();
        assert!(shown.starts_with("gw.toml:"), "{what}: {shown}");
        // The value's own line, or for checks across entries the line of the entry.
        assert!(
            [line_of(changed_at), line_of(entry_at)].contains(&err.line),
            "{what}: line {} in {shown}",
            err.line
        );
        assert!(
            err.field.starts_with(field),
            "{what}: field {} in {shown}",
            err.field
        );
    }
}

#[test]
fn a_peer_role_is_read_by_name() {
    let text = GOOD.replacen(
        "vendor = \"frr\"",
        "role = \"rs-client\"\nstrict_role = true",
        1,
    );
    let c = parse(&text).unwrap();
    let p = c.peers().next().unwrap();
    assert_eq!(p.role, Some(crate::wire::Role::RouteServerClient));
    assert!(p.strict_role);
    let err = parse(&GOOD.replacen("vendor = \"frr\"", "role = \"upstream\"", 1)).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected provider, customer, peer"),
        "{err}"
    );
}

#[test]
fn missing_section_is_named() {
    let err = parse("[[peers]]\naddress = \"127.0.0.2\"\nasn = 1\n").unwrap_err();
    assert!(err.to_string().contains("global"), "{err}");
}

#[test]
fn announcements_that_say_the_same_share_it_and_move_out_whole() {
    let extra = r#"
[[announce]]
prefix = "198.51.100.11/32"
labels = { service = "web", pool = "public" }

[[announce]]
prefix = "198.51.100.12/32"
[announce.labels]
pool = "public"
service = "web"

[[announce]]
prefix = "198.51.100.13/32"
labels = { service = "web", pool = "public" }
med = 5
"#;
    let mut c = parse(&format!("{GOOD}{extra}")).unwrap();
    let a = c.take_announcements();
    assert_eq!(a.len(), 4);
    assert!(
        Arc::ptr_eq(&a[1].attrs, &a[2].attrs),
        "same settings, one copy"
    );
    assert!(!Arc::ptr_eq(&a[1].attrs, &a[3].attrs), "a MED of its own");
    assert_eq!(a[3].attrs.med, Some(5));
    assert_eq!(a[3].attrs.labels["pool"], "public");
    assert_eq!(a[2].prefix.0.to_string(), "198.51.100.12/32");
    assert_eq!(c.announcements().count(), 0, "moved, not copied");
}

/// A config with `n` announcements, a peer table in the middle of them, labels both inline and
/// as sub-tables, and `bad` (if any) as announcement `bad.0`'s prefix.
fn many(n: usize, bad: Option<(usize, &str)>) -> String {
    let mut text = GOOD.to_string();
    for i in 0..n {
        let prefix = match bad {
            Some((at, p)) if at == i => p.to_string(),
            _ => format!("10.{}.{}.0/24", i >> 8, i & 255),
        };
        text += &format!("\n[[announce]]\nprefix = \"{prefix}\"\n");
        if i % 2 == 0 {
            text += &format!("labels = {{ pool = \"p{}\" }}\n", i % 3);
        } else {
            text += &format!("[announce.labels]\nservice = \"s{}\"\n", i % 5);
        }
        if i == n / 2 {
            text += "\n[[peers]]\nname = \"middle\"\naddress = \"127.0.0.9\"\nasn = 65009\n";
        }
    }
    text
}

#[test]
fn a_big_config_read_in_chunks_is_the_same_config() {
    let text = many(3000, None);
    let path = Path::new("gw.toml");
    let whole = Config::parse_with(&text, path, usize::MAX).unwrap();
    let chunked = Config::parse_with(&text, path, 1).unwrap();
    assert_eq!(chunked.announce.len(), 3001);
    assert_eq!(
        chunked.peers().count(),
        3,
        "the peer between announcements is kept"
    );
    for (a, b) in whole.announce.iter().zip(&chunked.announce) {
        assert_eq!(a.span(), b.span());
        assert_eq!(format!("{:?}", a.get_ref()), format!("{:?}", b.get_ref()));
    }
    let shared: HashSet<*const AnnounceAttrs> = chunked
        .announcements()
        .map(|a| Arc::as_ptr(&a.attrs))
        .collect();
    assert_eq!(shared.len(), 1 + 3 + 5, "one copy per distinct label set");
}

#[test]
fn an_error_in_a_later_chunk_names_the_same_line_and_field() {
    let path = Path::new("gw.toml");
    for bad in ["10.0.0.1/24", "nonsense"] {
        let text = many(5000, Some((4500, bad)));
        let whole = Config::parse_with(&text, path, usize::MAX).unwrap_err();
        let chunked = Config::parse_with(&text, path, 1).unwrap_err();
        assert_eq!(chunked.to_string(), whole.to_string());
        assert_eq!(chunked.field, "announce[4501].prefix", "{chunked}");
        let line = text.lines().nth(chunked.line - 1).unwrap();
        assert!(line.contains(bad), "{chunked} points at {line:?}");
    }
    // Two bad entries in chunks that different threads read: the first in the file is named.
    let text = many(9000, Some((7000, "nonsense"))).replacen(
        "prefix = \"10.0.200.0/24\"",
        "prefix = \"also nonsense\"",
        1,
    );
    let err = Config::parse_with(&text, path, 1).unwrap_err();
    assert_eq!(err.field, "announce[201].prefix", "{err}");
    // Checks across entries see every chunk.
    let text = many(5000, Some((4999, "10.0.0.0/24")));
    let err = Config::parse_with(&text, path, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        Config::parse_with(&text, path, usize::MAX)
            .unwrap_err()
            .to_string()
    );
}

#[test]
fn bfd_profiles_have_metallb_defaults_and_bad_ones_are_named() {
    let with = |profile: &str, peer_bfd: &str| {
        format!("{GOOD}\n[bfd_profiles.fast]\n{profile}\n").replacen(
            "vendor = \"frr\"",
            &format!("vendor = \"frr\"\nbfd = \"{peer_bfd}\""),
            1,
        )
    };
    let c = parse(&with("receive_interval_ms = 100", "fast")).unwrap();
    let p = c.bfd_profiles["fast"].get_ref();
    assert_eq!(
        (
            p.receive_interval_ms,
            p.transmit_interval_ms,
            p.detect_multiplier
        ),
        (100, 300, 3)
    );
    assert_eq!((p.passive, p.minimum_ttl), (false, 254));
    assert_eq!(c.peers().next().unwrap().bfd.as_deref(), Some("fast"));

    let e = parse(&with("", "slow")).unwrap_err();
    assert_eq!(e.field, "peers[0].bfd");
    assert!(e.message.contains("no [bfd_profiles.slow]"), "{e}");
    let e = parse(&with("detect_multiplier = 1", "fast")).unwrap_err();
    assert_eq!(e.field, "bfd_profiles.fast.detect_multiplier");
    assert_eq!(e.line, 30, "the profile's table: {e}");
    let e = parse(&with("transmit_interval_ms = 5", "fast")).unwrap_err();
    assert_eq!(e.field, "bfd_profiles.fast.transmit_interval_ms");
}

/// Issue 24: two peers on one address with different ports clashed on accept (a connection
/// finds its peer by address) and on the listener's TCP-MD5 key; now `check` refuses them.
#[test]
fn two_peers_on_one_address_are_refused_whatever_their_ports() {
    let text = GOOD.replace(
        "[[announce]]",
        "[[peers]]\nname = \"tor1-other-port\"\naddress = \"127.0.0.2\"\nport = 1179\nasn = 65001\n\n[[announce]]",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("duplicate peer 127.0.0.2"), "{err}");
    assert!(err.contains("whatever the port"), "{err}");
}

/// Issue 26: `health` names checks that exist, as one name or a list, and every check gates an
/// announcement.
#[test]
fn announcements_name_their_health_checks_and_every_check_is_used() {
    let checks = "[health_checks.web]\nkind = \"tcp\"\naddress = \"127.0.0.1:80\"\n\n\
                  [health_checks.db]\nkind = \"exec\"\ncommand = [\"/bin/true\"]\n";
    let with = |health: &str| format!("{GOOD}health = {health}\n\n{checks}");
    let c = parse(&with("[\"web\", \"db\"]")).unwrap();
    let a = c.announcements().next().unwrap();
    assert_eq!(a.attrs.health, ["web", "db"]);
    assert_eq!(c.health_checks["web"].get_ref().rise, 3);

    let e = parse(&with("\"web\"")).unwrap_err();
    assert_eq!(e.field, "health_checks.db");
    assert!(e.message.contains("no [[announce]]"), "{e}");
    let e = parse(&with("[\"web\", \"db\", \"cache\"]")).unwrap_err();
    assert_eq!(e.field, "announce[0].health");
    assert!(e.message.contains("no [health_checks.cache]"), "{e}");
    let e = parse(&format!(
        "{GOOD}health = \"web\"\n\n[health_checks.web]\nkind = \"tcp\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.field, "health_checks.web.address");
}

/// Issue 26: `when_down = "plugins"` needs checks and a plugin to act on them, and `health` is
/// a label only gracewire sets.
#[test]
fn when_down_plugins_needs_checks_and_a_plugin_and_the_health_label_is_reserved() {
    let check = "[health_checks.web]\nkind = \"tcp\"\naddress = \"127.0.0.1:80\"\n";
    let tagger = "[plugins.communities]\npath = \"tagger.wasm\"\n";
    let with = |attrs: &str, rest: &str| format!("{GOOD}{attrs}\n\n{rest}");
    let c = parse(&with(
        "health = \"web\"\nwhen_down = \"plugins\"",
        &format!("{check}{tagger}"),
    ));
    let c = c.unwrap();
    let a = c.announcements().next().unwrap();
    assert_eq!(a.attrs.when_down, crate::config::WhenDown::Plugins);

    let e = parse(&with("health = \"web\"\nwhen_down = \"plugins\"", check)).unwrap_err();
    assert_eq!(e.field, "announce[0].when_down");
    assert!(e.message.contains("[plugins.announce]"), "{e}");
    let e = parse(&with("when_down = \"plugins\"", tagger)).unwrap_err();
    assert_eq!(e.field, "announce[0].when_down");
    assert!(e.message.contains("needs `health`"), "{e}");
    let own = GOOD.replace("service = \"web\"", "health = \"up\"");
    let e = parse(&own).unwrap_err();
    assert_eq!(e.field, "announce[0].labels.health");
    assert!(e.message.contains("reserved"), "{e}");
    let e = parse(&with("health = \"web\"\nwhen_down = \"deprefer\"", check)).unwrap_err();
    assert!(e.to_string().contains("when_down"), "{e}");
}
