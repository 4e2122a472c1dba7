//! Reference announcement policy, MetalLB style: rules select routes by pool/service/any label
//! and peers by name or vendor; the first matching rule decides whether and how a route is
//! announced (aggregation length per family, LOCAL_PREF for iBGP, MED, AS-path prepend, next
//! hop). Each outcome carries its rule's name (`name`, else `rules[i]`; `default` when no rule
//! matched), so `show advertised` and `gracewire plan` say which rule placed each route.
//!
//! ```toml
//! [plugins.announce]
//! path = "plugins/announce.wasm"
//! [plugins.announce.config]
//! default = "announce"            # when no rule matches: "announce" (as configured) or "skip"
//! [[plugins.announce.config.rules]]
//! name = "public-to-tors"         # shown per route; absent: "rules[0]"
//! peers = ["tor1", "tor2"]        # peer names; empty or absent: every peer
//! vendors = ["frr"]               # peer vendor profiles; empty or absent: any
//! pools = ["public"]              # the route's `pool` label; empty or absent: any
//! services = ["web"]              # the route's `service` label
//! labels = { tier = "gold" }      # any other labels that must all match
//! action = "announce"             # or "skip"
//! aggregation_length_v4 = 24      # announce the covering /24 instead
//! aggregation_length_v6 = 64
//! local_pref = 200                # iBGP only (the host drops it towards eBGP)
//! med = 10
//! prepend = 2                     # extra copies of our ASN (eBGP)
//! next_hop_v4 = "192.0.2.1"
//! next_hop_v6 = "2001:db8::1"
//! [[plugins.announce.config.rules]]
//! name = "deprefer-down"          # the host's `health` label: a route whose check is down
//! labels = { health = "down" }    # (announcement `when_down = "plugins"`) goes out with MED
//! med = 1000                      # 1000 instead of being withdrawn
//! ```

use gracewire_sdk::announce::{Announcement, Decisions, Guest, GuestRoutes};
use gracewire_sdk::types::{Batch, Peer};
use gracewire_sdk::{
    announce_as_configured, check_rule_name, label_set_slot, log, matches_any, DecisionsBuilder,
    LabelSelector, Level,
};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Action {
    #[default]
    Announce,
    Skip,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    name: Option<String>,
    #[serde(default)]
    peers: Vec<String>,
    #[serde(default)]
    vendors: Vec<String>,
    #[serde(default)]
    pools: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    action: Action,
    aggregation_length_v4: Option<u8>,
    aggregation_length_v6: Option<u8>,
    local_pref: Option<u32>,
    med: Option<u32>,
    #[serde(default)]
    prepend: u8,
    next_hop_v4: Option<Ipv4Addr>,
    next_hop_v6: Option<Ipv6Addr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    default: Action,
    #[serde(default)]
    rules: Vec<Rule>,
}

/// The rule name of routes no rule matched.
const DEFAULT_RULE: &str = "default";

thread_local! {
    static CONFIG: RefCell<Config> = RefCell::new(Config::default());
}

impl Rule {
    fn validate(&self, i: usize) -> Result<(), String> {
        if self.aggregation_length_v4.is_some_and(|l| l > 32) {
            return Err(format!(
                "rules[{i}].aggregation_length_v4 must be at most 32"
            ));
        }
        if self.aggregation_length_v6.is_some_and(|l| l > 128) {
            return Err(format!(
                "rules[{i}].aggregation_length_v6 must be at most 128"
            ));
        }
        if self.prepend > 15 {
            return Err(format!("rules[{i}].prepend must be at most 15"));
        }
        if let Some(name) = &self.name {
            check_rule_name(name).map_err(|e| format!("rules[{i}].name: {e}"))?;
        }
        Ok(())
    }

    fn matches_peer(&self, peer: &Peer) -> bool {
        matches_any(&self.peers, Some(peer.name.as_str()))
            && matches_any(&self.vendors, Some(peer.vendor.as_str()))
    }

    /// The rule's label selectors, resolved against `batch`'s label table.
    fn selector(&self, batch: &Batch) -> LabelSelector {
        let selector = LabelSelector::new()
            .one_of(batch, "pool", &self.pools)
            .one_of(batch, "service", &self.services);
        self.labels.iter().fold(selector, |s, (k, v)| {
            s.one_of(batch, k, std::slice::from_ref(v))
        })
    }

    /// How this rule announces a route of the given family; `None` if it skips it. Unset
    /// values keep the route's configured ones (the host merges them), and an aggregation
    /// length no shorter than a route's prefix leaves that route as it is (the host checks).
    fn announcement(&self, v6: bool) -> Option<Announcement> {
        if self.action == Action::Skip {
            return None;
        }
        let (aggregate_len, next_hop) = if v6 {
            (self.aggregation_length_v6, self.next_hop_v6.map(IpAddr::V6))
        } else {
            (self.aggregation_length_v4, self.next_hop_v4.map(IpAddr::V4))
        };
        Some(Announcement {
            next_hop: next_hop.map(Into::into),
            med: self.med,
            local_pref: self.local_pref,
            prepend: self.prepend,
            aggregate_len,
            // Set in `init` (`rules[i]` when the config names none).
            rule: self.name.clone(),
        })
    }
}

pub struct AnnouncePolicy;

impl Guest for AnnouncePolicy {
    type Routes = AnnounceRoutes;

    fn init(config: String) -> Result<(), String> {
        let mut parsed: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&config).map_err(|e| format!("announce plugin config: {e}"))?
        };
        for (i, r) in parsed.rules.iter_mut().enumerate() {
            r.validate(i)?;
            r.name.get_or_insert_with(|| format!("rules[{i}]"));
        }
        log(
            Level::Info,
            &format!(
                "announce policy: {} rules, default {:?}",
                parsed.rules.len(),
                parsed.default
            ),
        );
        CONFIG.with(|c| *c.borrow_mut() = parsed);
        Ok(())
    }
}

/// A batch prepared under the current config: per label set, the rules whose label selectors
/// it meets. The policy looks only at labels, family and peer, so it answers per label set and
/// family: deciding for a peer is one rule check per set, and no work per route.
pub struct AnnounceRoutes {
    /// Per label set: the rules (in order) its labels satisfy.
    rules_of: Vec<Vec<usize>>,
}

impl GuestRoutes for AnnounceRoutes {
    fn new(batch: Batch) -> Self {
        CONFIG.with(|c| {
            let config = c.borrow();
            let selectors: Vec<_> = config.rules.iter().map(|r| r.selector(&batch)).collect();
            let rules_of = (0..batch.set_count())
                .map(|set| {
                    let matching = selectors.iter().enumerate();
                    matching
                        .filter(|(_, s)| s.matches(&batch, set))
                        .map(|(i, _)| i)
                        .collect()
                })
                .collect();
            AnnounceRoutes { rules_of }
        })
    }

    fn decide(&self, peer: Peer) -> Decisions {
        CONFIG.with(|c| {
            let config = c.borrow();
            let mut out = DecisionsBuilder::per_label_set(self.rules_of.len());
            for (set, rules) in self.rules_of.iter().enumerate() {
                let rule = rules
                    .iter()
                    .map(|i| &config.rules[*i])
                    .find(|r| r.matches_peer(&peer));
                for v6 in [false, true] {
                    let announcement = match rule {
                        Some(rule) => rule.announcement(v6),
                        None if config.default == Action::Skip => None,
                        None => Some(announce_as_configured().with_rule(DEFAULT_RULE)),
                    };
                    let choice = announcement.map_or(0, |a| out.announcement(a));
                    out.set(label_set_slot(set, v6), choice);
                }
            }
            out.build()
        })
    }
}

// Exported only in the .wasm: natively (tests, benchmarks) the crate is a plain library.
#[cfg(target_arch = "wasm32")]
gracewire_sdk::announce::export_announcement_policy!(AnnouncePolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use gracewire_sdk::types::Choices;
    use gracewire_sdk::{test_peer, BatchBuilder};

    fn batch() -> Batch {
        BatchBuilder::default()
            .route(
                "198.51.100.10/32",
                &[("pool", "public"), ("service", "web")],
            )
            .route("198.51.100.20/32", &[("pool", "private")])
            .route(
                "2001:db8::10/128",
                &[("pool", "public"), ("service", "dns")],
            )
            .build()
    }

    fn init(config: &str) {
        AnnouncePolicy::init(config.to_string()).unwrap();
    }

    /// Per route: the announcement, or `None` when not announced.
    fn decide(peer: &str, batch: Batch) -> Vec<Option<Announcement>> {
        let d = AnnounceRoutes::new(batch.clone()).decide(test_peer(peer, 64512, 65001, "frr"));
        (0..batch.len())
            .map(|i| d.get(&batch, i).cloned())
            .collect()
    }

    #[test]
    fn without_rules_everything_is_announced_as_configured() {
        init("{}");
        let d = decide("tor1", batch());
        let default = announce_as_configured().with_rule("default");
        assert_eq!(d, vec![Some(default); 3]);
    }

    #[test]
    fn pools_select_and_default_skips_the_rest() {
        init(
            r#"{"default":"skip","rules":[{"pools":["public"],"aggregation_length_v4":24,"prepend":2}]}"#,
        );
        let d = decide("tor1", batch());
        let (Some(v4), None, Some(v6)) = (&d[0], &d[1], &d[2]) else {
            panic!("public announced, private skipped: {d:?}");
        };
        assert_eq!(v4.aggregate_len, Some(24));
        assert_eq!(v6.aggregate_len, None, "no v6 aggregation configured");
        assert_eq!(v4.prepend, 2);
    }

    #[test]
    fn peers_and_services_and_first_match_wins() {
        init(
            r#"{"rules":[
                {"peers":["tor2"],"action":"skip"},
                {"services":["dns"],"local_pref":300,"med":5,"next_hop_v6":"2001:db8::99"}
            ]}"#,
        );
        let tor2 = decide("tor2", batch());
        assert!(tor2.iter().all(Option::is_none));
        let tor1 = decide("tor1", batch());
        let dns = tor1[2].as_ref().unwrap();
        assert_eq!(dns.local_pref, Some(300));
        assert_eq!(dns.med, Some(5));
        assert_eq!(
            dns.next_hop.as_ref().map(|a| a.ip()),
            Some("2001:db8::99".parse().unwrap())
        );
        assert_eq!(tor1[0], Some(announce_as_configured().with_rule("default")));
        assert_eq!(dns.rule.as_deref(), Some("rules[1]"), "unnamed: its place");
    }

    #[test]
    fn each_outcome_names_the_rule_that_chose_it() {
        init(
            r#"{"rules":[
                {"name":"public web","services":["web"],"med":1},
                {"pools":["public"],"med":1}
            ]}"#,
        );
        let d = decide("tor1", batch());
        let rules: Vec<_> = d
            .iter()
            .map(|a| a.as_ref().and_then(|a| a.rule.as_deref()))
            .collect();
        assert_eq!(
            rules,
            [Some("public web"), Some("default"), Some("rules[1]")]
        );
        let err = AnnouncePolicy::init(r#"{"rules":[{"name":""}]}"#.into()).unwrap_err();
        assert!(err.contains("rules[0].name"), "{err}");
    }

    #[test]
    fn one_prepared_batch_serves_every_peer_and_shares_announcements() {
        init(r#"{"default":"skip","rules":[{"peers":["tor1"],"pools":["public"],"med":1}]}"#);
        let mut b = BatchBuilder::default();
        for i in 0..100 {
            let pool = if i % 2 == 0 { "public" } else { "private" };
            b = b.route(&format!("10.0.{i}.0/24"), &[("pool", pool)]);
        }
        let batch = b.build();
        let routes = AnnounceRoutes::new(batch.clone());
        assert_eq!(routes.rules_of.len(), 2, "two label sets");
        let tor1 = routes.decide(test_peer("tor1", 64512, 65001, "frr"));
        assert_eq!(
            tor1.announcements.len(),
            1,
            "50 routes, one shared announcement"
        );
        assert_eq!(tor1.choice, Choices::PerLabelSet(vec![1, 1, 0, 0]));
        let chosen = tor1.choice.for_routes(&batch);
        assert_eq!(chosen.iter().filter(|c| **c == 1).count(), 50);
        let tor2 = routes.decide(test_peer("tor2", 64512, 65001, "frr"));
        assert!(tor2.choice.for_routes(&batch).iter().all(|c| *c == 0));
    }

    #[test]
    fn bad_config_is_rejected_with_the_field() {
        let err = AnnouncePolicy::init(r#"{"rules":[{"prepend":40}]}"#.into()).unwrap_err();
        assert!(err.contains("rules[0].prepend"), "{err}");
        let err = AnnouncePolicy::init(r#"{"rulez":[]}"#.into()).unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }
}

/// The same behaviour, through the built artifact in the real runtime.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod artifact_tests {
    use gracewire_sdk::testing::{build_wasm, TestPlugin};
    use gracewire_sdk::{test_peer, BatchBuilder};

    #[test]
    fn the_wasm_decides_like_the_native_code() {
        let wasm = build_wasm(env!("CARGO_MANIFEST_DIR"));
        let plugin = TestPlugin::announce(
            &wasm,
            r#"{"default":"skip","rules":[{"pools":["public"],"med":7}]}"#,
        )
        .unwrap();
        let batch = BatchBuilder::default()
            .route("198.51.100.10/32", &[("pool", "public")])
            .route("198.51.100.20/32", &[("pool", "private")])
            .build();
        let d = plugin
            .decide(&test_peer("tor1", 64512, 65001, "frr"), &batch)
            .unwrap();
        assert_eq!(d.get(&batch, 0).and_then(|a| a.med), Some(7));
        let rule = d.get(&batch, 0).and_then(|a| a.rule.as_deref());
        assert_eq!(
            rule,
            Some("rules[0]"),
            "the rule's name crosses the boundary"
        );
        assert!(d.get(&batch, 1).is_none(), "private is skipped");
        // One batch prepared once serves every peer.
        let prepared = plugin.prepare(&batch);
        let before = plugin.prepares();
        for peer in ["tor1", "tor2", "tor3"] {
            let d = plugin
                .decide_prepared(&test_peer(peer, 64512, 65001, "frr"), &prepared)
                .unwrap();
            assert_eq!(d.choice.for_routes(&batch), vec![1, 0], "{peer}");
        }
        assert_eq!(plugin.prepares(), before + 1);
        let err = TestPlugin::announce(&wasm, r#"{"rules":[{"prepend":99}]}"#)
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("rules[0].prepend"), "{err:#}");
    }
}
