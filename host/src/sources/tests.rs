use super::*;
use serde_json::json;
use std::path::Path;

const CONFIG_TEXT: &str = r#"
[global]
asn = 64512
router_id = "192.0.2.1"

[[peers]]
address = "192.0.2.2"
asn = 65001

[[announce]]
prefix = "198.51.100.1/32"
health = "web"

[health_checks.web]
kind = "tcp"
address = "127.0.0.1:8080"
"#;

fn config() -> Config {
    Config::parse(CONFIG_TEXT, Path::new("/nonexistent/gracewire.toml")).unwrap()
}

fn configured(net: &IpNet) -> bool {
    net.to_string() == "198.51.100.1/32"
}

fn entry(prefix: &str) -> serde_json::Value {
    json!({ "prefix": prefix })
}

fn change(s: &Sources, source: &str, c: Change) -> Result<(Sources, Delta), Refused> {
    s.changed(source, c, &config(), &configured)
}

fn prefixes(s: &Sources, source: &str) -> Vec<String> {
    let set = s.iter().find(|(name, _)| *name == source);
    set.map(|(_, a)| a.map(|a| a.prefix.0.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn set_replaces_a_source_and_counts_the_difference() {
    let s = Sources::default();
    let two = vec![entry("198.51.100.10/32"), entry("198.51.100.11/32")];
    let (s, d) = change(&s, "ctl", Change::Set(two)).unwrap();
    assert_eq!((d.added, d.changed, d.removed, d.now), (2, 0, 0, 2));
    let next = vec![
        json!({"prefix": "198.51.100.11/32", "med": 5}),
        entry("198.51.100.12/32"),
    ];
    let (s, d) = change(&s, "ctl", Change::Set(next)).unwrap();
    assert_eq!((d.added, d.changed, d.removed, d.now), (1, 1, 1, 2));
    assert_eq!(
        prefixes(&s, "ctl"),
        ["198.51.100.11/32", "198.51.100.12/32"]
    );
    let (s, d) = change(&s, "ctl", Change::Set(vec![])).unwrap();
    assert_eq!((d.removed, d.now), (2, 0));
    assert!(s.is_empty(), "an empty set removes the source");
}

#[test]
fn add_and_delete_change_only_what_they_name() {
    let s = Sources::default();
    let (s, _) = change(&s, "ctl", Change::Add(vec![entry("198.51.100.10/32")])).unwrap();
    let (s, d) = change(&s, "ctl", Change::Add(vec![entry("2001:db8::10/128")])).unwrap();
    assert_eq!((d.added, d.now), (1, 2));
    let (s, d) = change(&s, "ctl", Change::Delete(vec!["198.51.100.10/32".into()])).unwrap();
    assert_eq!((d.removed, d.now), (1, 1));
    assert_eq!(prefixes(&s, "ctl"), ["2001:db8::10/128"]);
    let gone = change(&s, "ctl", Change::Delete(vec!["198.51.100.10/32".into()]));
    let e = gone.unwrap_err();
    assert_eq!(e.code, Code::NotFound);
    assert_eq!(
        e.message,
        "prefixes[0]: 198.51.100.10/32 is not in source `ctl`"
    );
    let e = change(&s, "other", Change::Delete(vec![])).unwrap_err();
    assert_eq!(e.to_string(), "NOT_FOUND: no source `other`");
}

#[test]
fn each_entry_is_checked_as_the_config_checks_it_and_the_field_is_named() {
    let s = Sources::default();
    let cases = [
        (
            json!({"prefix": "198.51.100.11/31"}),
            "INVALID_ARGUMENT: announcements[1].prefix: prefix `198.51.100.11/31` has host bits set; did you mean `198.51.100.10/31`?",
        ),
        (
            json!({"prefix": "198.51.100.20/32", "next_hop": "2001:db8::1"}),
            "INVALID_ARGUMENT: announcements[1].next_hop: next hop 2001:db8::1 is not of the same IP version as prefix 198.51.100.20/32",
        ),
        (
            json!({"prefix": "198.51.100.20/32", "communities": ["65536:1"]}),
            "INVALID_ARGUMENT: announcements[1].communities[0]:",
        ),
        (
            json!({"prefix": "198.51.100.20/32", "colour": "blue"}),
            "INVALID_ARGUMENT: announcements[1].colour: unknown field `colour`",
        ),
        (
            json!({"prefix": "198.51.100.20/32", "health": "db"}),
            "FAILED_PRECONDITION: announcements[1].health: no [health_checks.db] (checks: [\"web\"])",
        ),
        (
            json!({"prefix": "198.51.100.20/32", "labels": {"health": "up"}}),
            "INVALID_ARGUMENT: announcements[1].labels.health: reserved",
        ),
    ];
    for (bad, expected) in cases {
        let entries = vec![entry("198.51.100.30/32"), bad.clone()];
        let e = change(&s, "ctl", Change::Set(entries))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(expected), "{bad}: {e}");
    }
    assert!(s.is_empty(), "nothing applied");
}

#[test]
fn a_prefix_has_one_source_and_a_refusal_names_both() {
    let s = Sources::default();
    let e = change(&s, "ctl", Change::Add(vec![entry("198.51.100.1/32")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "FAILED_PRECONDITION: announcements[0].prefix: 198.51.100.1/32 is announced by source `config` (the config file)"
    );
    let (s, _) = change(&s, "ctl-a", Change::Add(vec![entry("198.51.100.10/32")])).unwrap();
    let e = change(&s, "ctl-b", Change::Set(vec![entry("198.51.100.10/32")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "FAILED_PRECONDITION: announcements[0].prefix: 198.51.100.10/32 is announced by source `ctl-a`"
    );
    let twice = vec![entry("198.51.100.12/32"), entry("198.51.100.12/32")];
    let e = change(&s, "ctl-b", Change::Set(twice)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "INVALID_ARGUMENT: announcements[1].prefix: 198.51.100.12/32 is given twice (already announcements[0])"
    );
}

#[test]
fn source_names_are_checked_and_config_is_the_file() {
    let s = Sources::default();
    let e = change(&s, "config", Change::Set(vec![])).unwrap_err();
    assert_eq!(e.code, Code::FailedPrecondition);
    for bad in ["", "Ctl", "a b", "x\u{1b}[31m", &"a".repeat(MAX_NAME + 1)] {
        let e = change(&s, bad, Change::Set(vec![])).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{bad:?}");
        assert!(!e.message.contains('\u{1b}'), "escaped: {e}");
    }
}

#[test]
fn the_bounds_refuse_the_whole_request() {
    let s = Sources::default();
    let too_many: Vec<_> = (0..=MAX_PER_REQUEST as u32)
        .map(|i| entry(&format!("{}/32", std::net::Ipv4Addr::from(0x0a00_0000 + i))))
        .collect();
    let e = change(&s, "ctl", Change::Set(too_many)).unwrap_err();
    assert_eq!(e.code, Code::ResourceExhausted);
    assert!(e.message.contains("MAX_PER_REQUEST"), "{e}");
    let mut s = Sources::default();
    for i in 0..MAX_SOURCES {
        let one = vec![entry(&format!("10.1.{}.0/24", i))];
        s = change(&s, &format!("s{i}"), Change::Set(one)).unwrap().0;
    }
    let e = change(&s, "one-more", Change::Set(vec![entry("10.2.0.0/24")])).unwrap_err();
    assert_eq!(e.code, Code::ResourceExhausted);
    assert_eq!(s.iter().count(), MAX_SOURCES, "nothing applied");
}

#[test]
fn the_state_file_gives_back_the_same_sources() {
    let s = Sources::default();
    let entries = vec![
        json!({"prefix": "198.51.100.10/32", "next_hop": "192.0.2.1", "communities": ["64512:7", "large:64512:1:2"],
               "local_pref": 200, "med": 5, "labels": {"pool": "web"}, "health": ["web"]}),
        entry("2001:db8::10/128"),
    ];
    let (s, _) = change(&s, "ctl", Change::Set(entries)).unwrap();
    let (s, _) = change(&s, "other", Change::Set(vec![entry("198.51.100.20/32")])).unwrap();
    let (back, dropped) = Sources::from_file(&s.to_file(), &config(), &configured).unwrap();
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(back, s);
}

#[test]
fn a_kept_entry_that_no_longer_fits_is_left_out_and_named() {
    let s = Sources::default();
    let entries = vec![entry("198.51.100.10/32"), entry("198.51.100.11/32")];
    let (s, _) = change(&s, "ctl", Change::Set(entries)).unwrap();
    // The config now announces .10 itself.
    let now_configured = |net: &IpNet| net.to_string() == "198.51.100.10/32";
    let (back, dropped) = Sources::from_file(&s.to_file(), &config(), &now_configured).unwrap();
    assert_eq!(prefixes(&back, "ctl"), ["198.51.100.11/32"]);
    assert_eq!(dropped.len(), 1);
    assert!(
        dropped[0].contains("198.51.100.10/32 is announced by source `config`"),
        "{dropped:?}"
    );
    for bad in [&b"{"[..], br#"{"version":2,"sources":{}}"#, br#"[]"#] {
        assert!(Sources::from_file(bad, &config(), &configured).is_err());
    }
}

#[test]
fn a_reload_that_claims_a_controllers_prefix_or_drops_its_check_does_not_fit() {
    let s = Sources::default();
    let entries = vec![json!({"prefix": "198.51.100.10/32", "health": "web"})];
    let (s, _) = change(&s, "ctl", Change::Set(entries)).unwrap();
    assert_eq!(s.fit(&config()), Ok(()));
    let claims = CONFIG_TEXT.to_string() + "\n[[announce]]\nprefix = \"198.51.100.10/32\"\n";
    let claims = Config::parse(&claims, Path::new("/nonexistent/g.toml")).unwrap();
    let e = s.fit(&claims).unwrap_err();
    assert!(
        e.contains("198.51.100.10/32 is announced by source `ctl`"),
        "{e}"
    );
    let no_web = CONFIG_TEXT.replace("health = \"web\"", "");
    let no_web = no_web.split("[health_checks.web]").next().unwrap();
    let no_web = Config::parse(no_web, Path::new("/nonexistent/g.toml")).unwrap();
    let e = s.fit(&no_web).unwrap_err();
    assert!(
        e.contains("source `ctl`, 198.51.100.10/32 health: no [health_checks.web]"),
        "{e}"
    );
}

#[test]
fn a_file_of_entries_is_toml_announce_tables_or_a_json_array() {
    let toml = "[[announce]]\nprefix = \"198.51.100.10/32\"\nmed = 5\n\n[[announce]]\nprefix = \"2001:db8::10/128\"\n";
    let json = r#"[{"prefix": "198.51.100.10/32", "med": 5}, {"prefix": "2001:db8::10/128"}]"#;
    let from_toml = entries_from_text(toml).unwrap();
    assert_eq!(from_toml, entries_from_text(json).unwrap());
    let (s, _) = change(&Sources::default(), "ctl", Change::Set(from_toml)).unwrap();
    assert_eq!(
        prefixes(&s, "ctl"),
        ["198.51.100.10/32", "2001:db8::10/128"]
    );
    assert!(entries_from_text("[peers]\n")
        .unwrap_err()
        .contains("unknown field `peers`"));
}

#[test]
fn all_sources_together_hold_at_most_max_announcements() {
    let block = |b: u32| -> Vec<serde_json::Value> {
        let first = 0x0a00_0000 + b * MAX_PER_REQUEST as u32;
        let prefixes = first..first + MAX_PER_REQUEST as u32;
        prefixes
            .map(|a| entry(&format!("{}/32", std::net::Ipv4Addr::from(a))))
            .collect()
    };
    let mut s = Sources::default();
    let blocks = (MAX_ANNOUNCEMENTS / MAX_PER_REQUEST) as u32;
    for b in 0..blocks {
        s = change(&s, &format!("s{b}"), Change::Set(block(b)))
            .unwrap()
            .0;
    }
    assert_eq!(s.len(), MAX_ANNOUNCEMENTS);
    let e = change(&s, "s0", Change::Add(vec![entry("10.255.0.0/32")])).unwrap_err();
    assert_eq!(e.code, Code::ResourceExhausted);
    assert!(e.message.contains("MAX_ANNOUNCEMENTS"), "{e}");
    // Replacing within the bound still works.
    let (s, d) = change(&s, "s0", Change::Set(vec![entry("10.255.0.0/32")])).unwrap();
    assert_eq!(
        (d.added, d.removed, s.len()),
        (1, MAX_PER_REQUEST, MAX_ANNOUNCEMENTS - MAX_PER_REQUEST + 1)
    );
}
