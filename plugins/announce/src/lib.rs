//! Reference announcement policy, MetalLB style: rules select routes by pool/service/any label
//! and peers by name or vendor; the first matching rule decides whether and how a route is
//! announced (aggregation length per family, LOCAL_PREF for iBGP, MED, AS-path prepend, next
//! hop).
//!
//! ```toml
//! [plugins.announce]
//! path = "plugins/announce.wasm"
//! [plugins.announce.config]
//! default = "announce"            # when no rule matches: "announce" (as configured) or "skip"
//! [[plugins.announce.config.rules]]
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
//! ```

use gracewire_sdk::announce::{Decision, Guest};
use gracewire_sdk::types::{Batch, Peer, Route};
use gracewire_sdk::{announce_as_configured, log, matches_any, skip, Level};
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
        Ok(())
    }

    fn matches(&self, peer: &Peer, batch: &Batch, route: &Route) -> bool {
        matches_any(&self.peers, Some(peer.name.as_str()))
            && matches_any(&self.vendors, Some(peer.vendor.as_str()))
            && matches_any(&self.pools, batch.label(route, "pool"))
            && matches_any(&self.services, batch.label(route, "service"))
            && self
                .labels
                .iter()
                .all(|(k, v)| batch.label(route, k) == Some(v.as_str()))
    }

    fn decision(&self, route: &Route) -> Decision {
        if self.action == Action::Skip {
            return skip();
        }
        let v6 = route.prefix.addr.v6;
        let aggregate = if v6 {
            self.aggregation_length_v6
        } else {
            self.aggregation_length_v4
        };
        let next_hop = if v6 {
            self.next_hop_v6.map(IpAddr::V6)
        } else {
            self.next_hop_v4.map(IpAddr::V4)
        };
        Decision {
            announce: true,
            next_hop: next_hop.map(Into::into),
            med: self.med.or(route.med),
            local_pref: self.local_pref.or(route.local_pref),
            prepend: self.prepend,
            // Never "aggregate" to a longer prefix than the route itself.
            aggregate_len: aggregate.filter(|l| *l < route.prefix.len),
        }
    }
}

pub struct AnnouncePolicy;

impl Guest for AnnouncePolicy {
    fn init(config: String) -> Result<(), String> {
        let parsed: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&config).map_err(|e| format!("announce plugin config: {e}"))?
        };
        for (i, r) in parsed.rules.iter().enumerate() {
            r.validate(i)?;
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

    fn decide(peer: Peer, batch: Batch) -> Vec<Decision> {
        CONFIG.with(|c| {
            let config = c.borrow();
            batch
                .routes
                .iter()
                .map(|route| {
                    match config
                        .rules
                        .iter()
                        .find(|r| r.matches(&peer, &batch, route))
                    {
                        Some(rule) => rule.decision(route),
                        None if config.default == Action::Skip => skip(),
                        None => announce_as_configured(),
                    }
                })
                .collect()
        })
    }
}

// Exported only in the .wasm: natively (tests, benchmarks) the crate is a plain library.
#[cfg(target_arch = "wasm32")]
gracewire_sdk::announce::export_announcement_policy!(AnnouncePolicy);

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
            .route(
                "2001:db8::10/128",
                &[("pool", "public"), ("service", "dns")],
            )
            .build()
    }

    fn init(config: &str) {
        AnnouncePolicy::init(config.to_string()).unwrap();
    }

    #[test]
    fn without_rules_everything_is_announced_as_configured() {
        init("{}");
        let d = AnnouncePolicy::decide(test_peer("tor1", 64512, 65001, "frr"), batch());
        assert_eq!(d, vec![announce_as_configured(); 3]);
    }

    #[test]
    fn pools_select_and_default_skips_the_rest() {
        init(
            r#"{"default":"skip","rules":[{"pools":["public"],"aggregation_length_v4":24,"prepend":2}]}"#,
        );
        let d = AnnouncePolicy::decide(test_peer("tor1", 64512, 65001, "frr"), batch());
        assert!(d[0].announce && d[2].announce && !d[1].announce);
        assert_eq!(d[0].aggregate_len, Some(24));
        assert_eq!(d[2].aggregate_len, None, "no v6 aggregation configured");
        assert_eq!(d[0].prepend, 2);
    }

    #[test]
    fn peers_and_services_and_first_match_wins() {
        init(
            r#"{"rules":[
                {"peers":["tor2"],"action":"skip"},
                {"services":["dns"],"local_pref":300,"med":5,"next_hop_v6":"2001:db8::99"}
            ]}"#,
        );
        let tor2 = AnnouncePolicy::decide(test_peer("tor2", 64512, 65001, "frr"), batch());
        assert!(tor2.iter().all(|d| !d.announce));
        let tor1 = AnnouncePolicy::decide(test_peer("tor1", 64512, 65001, "frr"), batch());
        assert_eq!(tor1[2].local_pref, Some(300));
        assert_eq!(tor1[2].med, Some(5));
        assert_eq!(
            tor1[2].next_hop.as_ref().map(|a| a.ip()),
            Some("2001:db8::99".parse().unwrap())
        );
        assert_eq!(tor1[0], announce_as_configured());
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
        assert!(d[0].announce && !d[1].announce);
        assert_eq!(d[0].med, Some(7));
        let err = TestPlugin::announce(&wasm, r#"{"rules":[{"prepend":99}]}"#)
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("rules[0].prepend"), "{err:#}");
    }
}
