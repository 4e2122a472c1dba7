//! Example plugin written only against the SDK: remote-triggered blackholing (RFC 7999).
//! Routes labelled `blackhole = "true"` get BLACKHOLE (65535:666) and NO_EXPORT, so the upstream
//! drops their traffic without spreading the /32 further; routes with a `region` label get the
//! large community `ASN:1:<region number>` from the plugin config.
//!
//! ```toml
//! [plugins.communities]
//! path = "examples/blackhole-tagger/blackhole_tagger.wasm"
//! config = { asn = 64512, regions = { eu = 1, us = 2 } }
//! ```
//!
//! Build: `cargo build --release --target wasm32-wasip2`; test: `cargo test` (logic natively,
//! and the built artifact in the real runtime).

use gracewire_sdk::communities::{Guest, GuestRoutes, Tag, TagKind, Tagging};
use gracewire_sdk::types::{Batch, Peer};
use gracewire_sdk::{joined_rule_name, label_set_slot, log, Level, TaggingBuilder};
use std::cell::RefCell;
use std::collections::BTreeMap;

const BLACKHOLE: u32 = 0xffff_029a;
const NO_EXPORT: u32 = 0xffff_ff01;

#[derive(Default)]
struct Config {
    asn: u32,
    regions: BTreeMap<String, u32>,
}

thread_local! {
    static CONFIG: RefCell<Config> = RefCell::new(Config::default());
}

fn standard(value: u32) -> Tag {
    Tag {
        kind: TagKind::AddStandard,
        a: value,
        b: 0,
        c: 0,
        ext: 0,
    }
}

pub struct BlackholeTagger;

impl Guest for BlackholeTagger {
    type Routes = BlackholeRoutes;

    fn init(config: String) -> Result<(), String> {
        let v: serde_json::Value =
            serde_json::from_str(if config.is_empty() { "{}" } else { &config })
                .map_err(|e| format!("config: {e}"))?;
        let asn = v.get("asn").and_then(|a| a.as_u64()).unwrap_or(0);
        let asn = u32::try_from(asn).map_err(|_| "asn: out of range".to_string())?;
        let mut regions = BTreeMap::new();
        for (name, n) in v
            .get("regions")
            .and_then(|r| r.as_object())
            .into_iter()
            .flatten()
        {
            let n = n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(format!("regions.{name}: not a number"))?;
            regions.insert(name.clone(), n);
        }
        if !regions.is_empty() && asn == 0 {
            return Err("regions need an asn".into());
        }
        log(
            Level::Info,
            &format!("blackhole tagger: {} regions", regions.len()),
        );
        CONFIG.with(|c| *c.borrow_mut() = Config { asn, regions });
        Ok(())
    }
}

/// The tags depend only on labels, not on the peer: they are worked out once per batch, per
/// label set.
pub struct BlackholeRoutes {
    tagging: Tagging,
}

impl GuestRoutes for BlackholeRoutes {
    fn new(batch: Batch) -> Self {
        CONFIG.with(|c| {
            let c = c.borrow();
            let mut out = TaggingBuilder::per_label_set(batch.set_count());
            for set in 0..batch.set_count() {
                let mut tags = Vec::new();
                // Named after what tagged the routes: `blackhole`, `region`, or both.
                let mut rules = Vec::new();
                if batch.set_label(set, "blackhole") == Some("true") {
                    tags.extend([standard(BLACKHOLE), standard(NO_EXPORT)]);
                    rules.push("blackhole");
                }
                if let Some(n) = batch
                    .set_label(set, "region")
                    .and_then(|r| c.regions.get(r))
                {
                    rules.push("region");
                    tags.push(Tag {
                        kind: TagKind::AddLarge,
                        a: c.asn,
                        b: 1,
                        c: *n,
                        ext: 0,
                    });
                }
                let choice = match joined_rule_name(rules) {
                    Some(rule) => out.rule_set(rule, tags),
                    None => 0,
                };
                out.set(label_set_slot(set, false), choice);
                out.set(label_set_slot(set, true), choice);
            }
            BlackholeRoutes {
                tagging: out.build(),
            }
        })
    }

    fn tag(&self, _peer: Peer) -> Tagging {
        self.tagging.clone()
    }
}

// Exported only in the .wasm: natively (tests, benchmarks) the crate is a plain library.
#[cfg(target_arch = "wasm32")]
gracewire_sdk::communities::export_community_tagger!(BlackholeTagger);

#[cfg(test)]
mod tests {
    use super::*;
    use gracewire_sdk::{test_peer, BatchBuilder};

    fn batch() -> Batch {
        BatchBuilder::default()
            .route("198.51.100.66/32", &[("blackhole", "true")])
            .route("198.51.100.10/32", &[("region", "eu")])
            .route("198.51.100.11/32", &[])
            .build()
    }

    #[test]
    fn blackhole_and_region_tags() {
        BlackholeTagger::init(r#"{"asn":64512,"regions":{"eu":1}}"#.into()).unwrap();
        let tagging = BlackholeRoutes::new(batch()).tag(test_peer("tor1", 64512, 65001, "frr"));
        let summary: Vec<_> = (0..3)
            .flat_map(|i| {
                tagging
                    .tags_of(&batch(), i)
                    .iter()
                    .map(move |t| (i, t.kind, t.a, t.c))
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, TagKind::AddStandard, BLACKHOLE, 0),
                (0, TagKind::AddStandard, NO_EXPORT, 0),
                (1, TagKind::AddLarge, 64512, 1)
            ]
        );
        let rules: Vec<_> = (0..3).map(|i| tagging.rule_of(&batch(), i)).collect();
        assert_eq!(rules, [Some("blackhole"), Some("region"), None]);
    }

    #[test]
    fn regions_without_asn_are_refused() {
        assert!(BlackholeTagger::init(r#"{"regions":{"eu":1}}"#.into()).is_err());
    }

    #[test]
    fn the_artifact_behaves_the_same() {
        let wasm = gracewire_sdk::testing::build_wasm(env!("CARGO_MANIFEST_DIR"));
        let plugin = gracewire_sdk::testing::TestPlugin::communities(
            &wasm,
            r#"{"asn":64512,"regions":{"eu":1}}"#,
        )
        .unwrap();
        let tagging = plugin
            .tag(&test_peer("tor1", 64512, 65001, "frr"), &batch())
            .unwrap();
        let counts: Vec<usize> = (0..3).map(|i| tagging.tags_of(&batch(), i).len()).collect();
        assert_eq!(counts, vec![2, 1, 0]);
    }
}
