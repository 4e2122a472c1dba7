//! Who decided each advertised route: the plugin versions and rule names (or the config as
//! written, or a fallback after a fault) of the evaluation a peer's Adj-RIB-Out was built
//! from. Worked out when asked (`show advertised`, `plan`, a scrape) from the decisions the
//! peer keeps, so naming rules costs nothing on the path that sends routes.

use super::peer::Applied;
use super::Daemon;
use crate::api::DecidedBy;
use crate::policy::plugins::Candidates;
use crate::policy::{outcome_of_prefix, Decision, Decisions, Source};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Per prefix of one evaluation's table, who decided it.
pub(super) struct Provenance {
    outcome: FxHashMap<IpNet, u32>,
    parts: Vec<Vec<DecidedBy>>,
}

impl Provenance {
    pub fn new(candidates: &Candidates, decisions: &Decisions) -> Provenance {
        Provenance {
            outcome: outcome_of_prefix(&candidates.announce, decisions),
            parts: decisions.why().iter().map(DecidedBy::of).collect(),
        }
    }

    pub fn of_applied(applied: &Applied) -> Provenance {
        Provenance::new(&applied.candidates, &applied.decisions)
    }

    /// Who decided `prefix` (empty if no candidate of the evaluation makes it).
    pub fn of(&self, prefix: &IpNet) -> Vec<DecidedBy> {
        self.outcome
            .get(prefix)
            .map(|&k| self.parts[k as usize].clone())
            .unwrap_or_default()
    }
}

/// A plugin kind and a rule name ("" for outcomes without one).
pub(super) type RuleKey = (&'static str, String);

impl Daemon {
    /// Per plugin kind and rule: the candidate routes announced under that rule, summed over
    /// Established peers (routes a fallback kept are not a rule's).
    pub(super) fn routes_per_rule(&self) -> BTreeMap<RuleKey, u64> {
        let mut out = BTreeMap::new();
        for up in self.peers.values().filter_map(|p| p.up.as_ref()) {
            let Some(applied) = &up.applied else {
                continue;
            };
            let d = &applied.decisions;
            for ((decision, why), &n) in
                d.outcomes().iter().zip(d.why()).zip(d.routes_per_outcome())
            {
                if !matches!(decision, Decision::Announce(_)) {
                    continue;
                }
                for (kind, source) in [
                    ("announce", &why.announce),
                    ("communities", &why.communities),
                ] {
                    if let Source::Plugin { rule, .. } = source {
                        let rule = rule.as_deref().unwrap_or("").to_string();
                        *out.entry((kind, rule)).or_insert(0) += n as u64;
                    }
                }
            }
        }
        out
    }
}
