//! Reference community tagger: communities per pool/service label and peer, with alias names
//! (MetalLB's Community resource), standard, large and extended communities and the well-known
//! NO_EXPORT, NO_ADVERTISE, NO_EXPORT_SUBCONFED, BLACKHOLE and GRACEFUL_SHUTDOWN.
//!
//! ```toml
//! [plugins.communities]
//! path = "plugins/communities.wasm"
//! [plugins.communities.config]
//! aliases = { customer-a = "64512:1000", vip-large = "large:64512:7:1" }
//! [[plugins.communities.config.rules]]
//! name = "public-customer-a"      # shown per route; absent: "rules[0]"
//! pools = ["public"]              # any rule that matches applies (they add up)
//! services = []                   # empty: any
//! peers = []                      # empty: any
//! labels = {}                     # other labels that must all match
//! add = ["customer-a", "no-export", "ext:rt:64512:100"]
//! remove = ["64512:100"]
//! ```
//! Values: `ASN:N` (standard), `large:G:L1:L2`, `ext:rt:ASN:N` / `ext:soo:ASN:N` (two-octet-AS
//! route target / site of origin, RFC 4360), `ext:0x` + 16 hex digits (any extended community),
//! a well-known name, or an alias.
//!
//! Each route's tags carry the names of the rules that made them, joined by `+`.

use gracewire_sdk::communities::{Guest, GuestRoutes, Tag, TagKind, Tagging};
use gracewire_sdk::types::{Batch, Peer};
use gracewire_sdk::{
    check_rule_name, joined_rule_name, label_set_slot, log, matches_any, LabelSelector, Level,
    TaggingBuilder,
};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Community {
    Standard(u32),
    Large(u32, u32, u32),
    Extended(u64),
}

const WELL_KNOWN: [(&str, u32); 5] = [
    ("no-export", 0xffff_ff01),
    ("no-advertise", 0xffff_ff02),
    ("no-export-subconfed", 0xffff_ff03),
    ("blackhole", 0xffff_029a),
    ("graceful-shutdown", 0xffff_0000),
];

fn parse_community(s: &str) -> Result<Community, String> {
    let bad = || {
        format!("`{s}` is not a community (ASN:N, large:G:L1:L2, ext:rt:ASN:N, ext:soo:ASN:N, ext:0x..., or a well-known name)")
    };
    if let Some((_, v)) = WELL_KNOWN.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Ok(Community::Standard(*v));
    }
    let nums = |rest: &str| {
        rest.split(':')
            .map(|p| p.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()
    };
    if let Some(rest) = s.strip_prefix("large:") {
        let [g, a, b] = nums(rest)?[..] else {
            return Err(bad());
        };
        return Ok(Community::Large(g, a, b));
    }
    if let Some(hex) = s.strip_prefix("ext:0x") {
        return u64::from_str_radix(hex, 16)
            .map(Community::Extended)
            .map_err(|_| bad());
    }
    for (prefix, subtype) in [("ext:rt:", 0x02u64), ("ext:soo:", 0x03u64)] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let [asn, n] = nums(rest)?[..] else {
                return Err(bad());
            };
            let asn = u16::try_from(asn).map_err(|_| bad())?;
            // Type 0x00 (transitive two-octet AS specific), subtype, AS, 4-octet value.
            return Ok(Community::Extended(
                (subtype << 48) | ((asn as u64) << 32) | n as u64,
            ));
        }
    }
    let [hi, lo] = nums(s)?[..] else {
        return Err(bad());
    };
    if hi > 0xffff || lo > 0xffff {
        return Err(bad());
    }
    Ok(Community::Standard((hi << 16) | lo))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    name: Option<String>,
    #[serde(default)]
    peers: Vec<String>,
    #[serde(default)]
    pools: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RuleConfig>,
}

struct Rule {
    /// The config's `name`, else `rules[i]`.
    name: String,
    select: RuleConfig,
    add: Vec<Community>,
    remove: Vec<Community>,
}

thread_local! {
    static RULES: RefCell<Vec<Rule>> = const { RefCell::new(Vec::new()) };
}

impl Rule {
    fn matches_peer(&self, peer: &Peer) -> bool {
        matches_any(&self.select.peers, Some(peer.name.as_str()))
    }

    /// The rule's label selectors, resolved against `batch`'s label table.
    fn selector(&self, batch: &Batch) -> LabelSelector {
        let s = &self.select;
        let selector = LabelSelector::new().one_of(batch, "pool", &s.pools).one_of(
            batch,
            "service",
            &s.services,
        );
        s.labels.iter().fold(selector, |sel, (k, v)| {
            sel.one_of(batch, k, std::slice::from_ref(v))
        })
    }
}

fn tag(c: Community, remove: bool) -> Tag {
    let (kind, a, b, cc, ext) = match (c, remove) {
        (Community::Standard(v), false) => (TagKind::AddStandard, v, 0, 0, 0),
        (Community::Standard(v), true) => (TagKind::RemoveStandard, v, 0, 0, 0),
        (Community::Large(g, x, y), false) => (TagKind::AddLarge, g, x, y, 0),
        (Community::Large(g, x, y), true) => (TagKind::RemoveLarge, g, x, y, 0),
        (Community::Extended(e), false) => (TagKind::AddExtended, 0, 0, 0, e),
        (Community::Extended(e), true) => (TagKind::RemoveExtended, 0, 0, 0, e),
    };
    Tag {
        kind,
        a,
        b,
        c: cc,
        ext,
    }
}

pub struct CommunityTagger;

impl Guest for CommunityTagger {
    type Routes = TaggedRoutes;

    fn init(config: String) -> Result<(), String> {
        let config: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&config).map_err(|e| format!("communities plugin config: {e}"))?
        };
        let resolve = |v: &String, at: String| -> Result<Community, String> {
            let text = config.aliases.get(v).unwrap_or(v);
            parse_community(text).map_err(|e| format!("{at}: {e}"))
        };
        let mut rules = Vec::new();
        for (i, r) in config.rules.into_iter().enumerate() {
            let add = r
                .add
                .iter()
                .enumerate()
                .map(|(j, v)| resolve(v, format!("rules[{i}].add[{j}]")))
                .collect::<Result<_, _>>()?;
            let remove = r
                .remove
                .iter()
                .enumerate()
                .map(|(j, v)| resolve(v, format!("rules[{i}].remove[{j}]")))
                .collect::<Result<_, _>>()?;
            let name = match &r.name {
                Some(name) => {
                    check_rule_name(name).map_err(|e| format!("rules[{i}].name: {e}"))?;
                    name.clone()
                }
                None => format!("rules[{i}]"),
            };
            rules.push(Rule {
                name,
                select: r,
                add,
                remove,
            });
        }
        log(
            Level::Info,
            &format!("community tagger: {} rules", rules.len()),
        );
        RULES.with(|r| *r.borrow_mut() = rules);
        Ok(())
    }
}

/// A batch prepared under the current rules: per label set, the rules its labels meet. Tags
/// depend only on labels and peer, so the answer is per label set (both families get the
/// same): tagging for a peer is one set of tags per label set, and no work per route.
pub struct TaggedRoutes {
    rules_of: Vec<Vec<usize>>,
}

impl GuestRoutes for TaggedRoutes {
    fn new(batch: Batch) -> Self {
        let rules_of = RULES.with(|rules| {
            let rules = rules.borrow();
            let selectors: Vec<_> = rules.iter().map(|r| r.selector(&batch)).collect();
            (0..batch.set_count())
                .map(|set| {
                    let matching = selectors.iter().enumerate();
                    matching
                        .filter(|(_, s)| s.matches(&batch, set))
                        .map(|(i, _)| i)
                        .collect()
                })
                .collect()
        });
        TaggedRoutes { rules_of }
    }

    fn tag(&self, peer: Peer) -> Tagging {
        RULES.with(|rules| {
            let rules = rules.borrow();
            let mut out = TaggingBuilder::per_label_set(self.rules_of.len());
            for (set, matching) in self.rules_of.iter().enumerate() {
                let mut tags = Vec::new();
                let mut names = Vec::new();
                for rule in matching.iter().map(|i| &rules[*i]) {
                    if rule.matches_peer(&peer) {
                        tags.extend(rule.add.iter().map(|c| tag(*c, false)));
                        tags.extend(rule.remove.iter().map(|c| tag(*c, true)));
                        names.push(rule.name.as_str());
                    }
                }
                let choice = match joined_rule_name(names) {
                    Some(name) => out.rule_set(name, tags),
                    None => 0,
                };
                out.set(label_set_slot(set, false), choice);
                out.set(label_set_slot(set, true), choice);
            }
            out.build()
        })
    }
}

// Exported only in the .wasm: natively (tests, benchmarks) the crate is a plain library.
#[cfg(target_arch = "wasm32")]
gracewire_sdk::communities::export_community_tagger!(CommunityTagger);

#[cfg(test)]
mod tests {
    use super::*;
    use gracewire_sdk::{test_peer, BatchBuilder};

    fn batch() -> Batch {
        BatchBuilder::default()
            .route(
                "198.51.100.10/32",
                &[("pool", "public"), ("service", "web")],
            )
            .route("198.51.100.20/32", &[("pool", "private")])
            .build()
    }

    #[test]
    fn parses_every_spelling() {
        assert_eq!(
            parse_community("64512:100"),
            Ok(Community::Standard(0xfc00_0064))
        );
        assert_eq!(
            parse_community("NO-EXPORT"),
            Ok(Community::Standard(0xffff_ff01))
        );
        assert_eq!(
            parse_community("graceful-shutdown"),
            Ok(Community::Standard(0xffff_0000))
        );
        assert_eq!(
            parse_community("large:64512:1:2"),
            Ok(Community::Large(64512, 1, 2))
        );
        assert_eq!(
            parse_community("ext:rt:64512:100"),
            Ok(Community::Extended(0x0002_fc00_0000_0064))
        );
        assert_eq!(
            parse_community("ext:0x0003fc0000000001"),
            Ok(Community::Extended(0x0003_fc00_0000_0001))
        );
        for bad in ["70000:1", "1:2:3", "large:1:2", "ext:rt:70000:1", "nope"] {
            assert!(parse_community(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_add_up_and_aliases_resolve() {
        CommunityTagger::init(
            r#"{"aliases":{"customer-a":"64512:1000"},
                "rules":[{"pools":["public"],"add":["customer-a","no-export"]},
                         {"services":["web"],"add":["large:64512:7:1"],"remove":["64512:100"]}]}"#
                .into(),
        )
        .unwrap();
        let tagging = TaggedRoutes::new(batch()).tag(test_peer("tor1", 64512, 65001, "frr"));
        assert!(
            tagging.tags_of(&batch(), 1).is_empty(),
            "route 1 is private"
        );
        let tags = tagging.tags_of(&batch(), 0);
        let kinds: Vec<_> = tags.iter().map(|t| (t.kind, t.a)).collect();
        assert_eq!(
            kinds,
            vec![
                (TagKind::AddStandard, 0xfc00_03e8),
                (TagKind::AddStandard, 0xffff_ff01),
                (TagKind::AddLarge, 64512),
                (TagKind::RemoveStandard, 0xfc00_0064)
            ]
        );
    }

    #[test]
    fn peer_rules_apply_per_peer_on_one_prepared_batch() {
        CommunityTagger::init(r#"{"rules":[{"peers":["tor2"],"add":["no-export"]}]}"#.into())
            .unwrap();
        let routes = TaggedRoutes::new(batch());
        let tor1 = routes.tag(test_peer("tor1", 64512, 65001, "frr"));
        let chosen = tor1.choice.for_routes(&batch());
        assert!(chosen.iter().all(|c| *c == 0), "{tor1:?}");
        let tor2 = routes.tag(test_peer("tor2", 64512, 65001, "frr"));
        assert_eq!(tor2.sets.len(), 1, "both routes share one set: {tor2:?}");
        assert_eq!(tor2.tags_of(&batch(), 1)[0].a, 0xffff_ff01);
    }

    #[test]
    fn each_routes_tags_name_the_rules_that_made_them() {
        CommunityTagger::init(
            r#"{"rules":[{"name":"public","pools":["public"],"add":["no-export"]},
                         {"services":["web"],"add":["64512:1"]},
                         {"pools":["private"]}]}"#
                .into(),
        )
        .unwrap();
        let tagging = TaggedRoutes::new(batch()).tag(test_peer("tor1", 64512, 65001, "frr"));
        assert_eq!(tagging.rule_of(&batch(), 0), Some("public+rules[1]"));
        assert_eq!(
            tagging.rule_of(&batch(), 1),
            Some("rules[2]"),
            "a rule that adds nothing is still named"
        );
        let err = CommunityTagger::init(r#"{"rules":[{"name":"a\nb"}]}"#.into()).unwrap_err();
        assert!(err.contains("rules[0].name"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected_with_their_place() {
        let err =
            CommunityTagger::init(r#"{"rules":[{"add":["64512:1","bogus"]}]}"#.into()).unwrap_err();
        assert!(err.contains("rules[0].add[1]"), "{err}");
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod artifact_tests {
    use gracewire_sdk::communities::TagKind;
    use gracewire_sdk::testing::{build_wasm, TestPlugin};
    use gracewire_sdk::{test_peer, BatchBuilder};

    #[test]
    fn the_wasm_tags_like_the_native_code() {
        let wasm = build_wasm(env!("CARGO_MANIFEST_DIR"));
        let plugin = TestPlugin::communities(
            &wasm,
            r#"{"rules":[{"pools":["public"],"add":["blackhole"]}]}"#,
        )
        .unwrap();
        let batch = BatchBuilder::default()
            .route("198.51.100.10/32", &[("pool", "public")])
            .build();
        let tagging = plugin
            .tag(&test_peer("tor1", 64512, 65001, "frr"), &batch)
            .unwrap();
        let tags = tagging.tags_of(&batch, 0);
        assert_eq!(tags.len(), 1);
        assert_eq!(
            (tags[0].kind, tags[0].a),
            (TagKind::AddStandard, 0xffff_029a)
        );
    }
}
