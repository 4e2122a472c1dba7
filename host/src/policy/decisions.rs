//! One decision per candidate route, stored once per distinct outcome.
//!
//! A policy answers 100k routes with a handful of outcomes (one per rule it applied), and a
//! decision holds an [`Export`](super::Export) of ~130 bytes with its own community vectors.
//! Stored per route, one peer's evaluation took ~25 MiB and the policy worker may hold a few
//! peers' worth at once (measured with heaptrack: 47 MiB of a 69 MiB peak at 100k routes to
//! 10 peers). Here a route costs a `u32` index into the distinct outcomes, and whoever turns
//! outcomes into attributes does that work once per outcome, not once per route.
//!
//! Each outcome also says who decided it ([`Why`]): which plugin version and rule, the config
//! as written, or a fallback after a fault. That too is per outcome, so naming rules costs
//! nothing per route; `show advertised`, `plan` and the per-rule metrics read it.

use super::Decision;
use rustc_hash::FxHashMap;
use std::sync::Arc;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decisions {
    outcomes: Vec<Decision>,
    /// Per outcome: who decided it.
    why: Vec<Why>,
    /// Per outcome: how many routes have it.
    routes: Vec<u32>,
    /// Per candidate, in candidate order: its index in `outcomes`.
    of_route: Vec<u32>,
}

/// Who decided one outcome, per plugin kind that takes part in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Why {
    pub announce: Source,
    pub communities: Source,
}

/// How one plugin kind took part in an outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Source {
    /// No plugin of this kind: the config as written.
    #[default]
    Configured,
    /// The plugin version's answer, with the rule name the outcome carried.
    Plugin {
        version: Arc<str>,
        rule: Option<Arc<str>>,
    },
    /// The plugin version failed: the route keeps its last good outcome (or `on_error`).
    Fallback { version: Arc<str> },
}

impl Decisions {
    /// The number of routes decided.
    pub fn len(&self) -> usize {
        self.of_route.len()
    }

    pub fn is_empty(&self) -> bool {
        self.of_route.is_empty()
    }

    /// The distinct outcomes, in the order first met.
    pub fn outcomes(&self) -> &[Decision] {
        &self.outcomes
    }

    /// Each route's index into [`outcomes`](Self::outcomes).
    pub fn of_route(&self) -> &[u32] {
        &self.of_route
    }

    /// Who decided each outcome, in the order of [`outcomes`](Self::outcomes).
    pub fn why(&self) -> &[Why] {
        &self.why
    }

    /// How many routes have each outcome, in the order of [`outcomes`](Self::outcomes).
    pub fn routes_per_outcome(&self) -> &[u32] {
        &self.routes
    }

    /// The decision for route `i`.
    pub fn get(&self, i: usize) -> Option<&Decision> {
        self.of_route.get(i).map(|&k| &self.outcomes[k as usize])
    }

    /// The decision for each route, in route order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Decision> + '_ {
        self.of_route.iter().map(|&k| &self.outcomes[k as usize])
    }

    /// Whether some route fell back after a plugin failure (its outcome then depends on what
    /// the peer was sent before).
    pub fn has_fallback(&self) -> bool {
        self.outcomes
            .iter()
            .any(|d| matches!(d, Decision::Fallback { .. }))
    }
}

/// Builds [`Decisions`] a route at a time, keeping each distinct outcome once.
#[derive(Default)]
pub struct DecisionsBuilder {
    seen: FxHashMap<(Decision, Why), u32>,
    decisions: Decisions,
}

impl DecisionsBuilder {
    pub fn with_routes(routes: usize) -> DecisionsBuilder {
        let mut b = DecisionsBuilder::default();
        b.decisions.of_route.reserve(routes);
        b
    }

    /// The index of `decision`, decided as `why` says, among the outcomes, adding it if it
    /// is new. The same decision by two rules is two outcomes: each route keeps its rule.
    pub fn outcome(&mut self, decision: Decision, why: Why) -> u32 {
        let d = &mut self.decisions;
        let next = d.outcomes.len() as u32;
        *self
            .seen
            .entry((decision, why))
            .or_insert_with_key(|(decision, why)| {
                d.outcomes.push(decision.clone());
                d.why.push(why.clone());
                d.routes.push(0);
                next
            })
    }

    /// The next route's decision: outcome `k`.
    ///
    /// # Panics
    /// If there is no outcome `k`.
    pub fn push(&mut self, k: u32) {
        assert!(
            (k as usize) < self.decisions.outcomes.len(),
            "a route names an outcome that does not exist"
        );
        self.decisions.of_route.push(k);
        self.decisions.routes[k as usize] += 1;
    }

    pub fn finish(self) -> Decisions {
        self.decisions
    }
}

/// Collects per-route decisions and who made them, keeping each distinct one once.
impl FromIterator<(Decision, Why)> for Decisions {
    fn from_iter<I: IntoIterator<Item = (Decision, Why)>>(iter: I) -> Decisions {
        let iter = iter.into_iter();
        let mut b = DecisionsBuilder::with_routes(iter.size_hint().0);
        for (decision, why) in iter {
            let k = b.outcome(decision, why);
            b.push(k);
        }
        b.finish()
    }
}

/// Collects per-route decisions of the config as written (no plugin took part).
impl FromIterator<Decision> for Decisions {
    fn from_iter<I: IntoIterator<Item = Decision>>(iter: I) -> Decisions {
        iter.into_iter().map(|d| (d, Why::default())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Export;

    fn med(m: u32) -> Decision {
        Decision::Announce(Export {
            med: Some(m),
            ..Default::default()
        })
    }

    #[test]
    fn equal_decisions_are_stored_once_and_every_route_keeps_its_own() {
        let per_route = [
            med(1),
            Decision::Skip,
            med(1),
            med(2),
            Decision::Skip,
            med(1),
        ];
        let d: Decisions = per_route.iter().cloned().collect();
        assert_eq!(d.outcomes(), &[med(1), Decision::Skip, med(2)]);
        assert_eq!(d.of_route(), &[0, 1, 0, 2, 1, 0]);
        assert_eq!(d.len(), per_route.len());
        assert!(d.iter().eq(per_route.iter()));
        assert_eq!(d.get(3), Some(&med(2)));
        assert_eq!(d.get(6), None);
        assert_eq!(d.routes_per_outcome(), &[3, 2, 1]);
    }

    #[test]
    fn the_same_decision_by_two_rules_is_two_outcomes() {
        let by = |rule: &str| Why {
            announce: Source::Plugin {
                version: "v1".into(),
                rule: Some(rule.into()),
            },
            communities: Source::Configured,
        };
        let d: Decisions = [(med(1), by("a")), (med(1), by("b")), (med(1), by("a"))]
            .into_iter()
            .collect();
        assert_eq!(d.outcomes(), &[med(1), med(1)]);
        assert_eq!(d.why(), &[by("a"), by("b")]);
        assert_eq!(d.of_route(), &[0, 1, 0]);
        assert_eq!(d.routes_per_outcome(), &[2, 1]);
    }

    #[test]
    fn nothing_decided_is_empty() {
        let d: Decisions = std::iter::empty::<Decision>().collect();
        assert!(d.is_empty());
        assert!(d.outcomes().is_empty());
    }

    #[test]
    #[should_panic(expected = "does not exist")]
    fn an_index_past_the_outcomes_is_refused() {
        let mut b = DecisionsBuilder::default();
        let k = b.outcome(Decision::Skip, Why::default());
        b.push(k);
        b.push(1);
    }

    #[test]
    fn a_fallback_is_found_among_the_outcomes() {
        assert!(![med(1), Decision::Skip]
            .into_iter()
            .collect::<Decisions>()
            .has_fallback());
        let fallback = Decision::Fallback {
            on_error: crate::config::OnError::FailOpen,
            configured: Export::default(),
        };
        assert!([med(1), fallback]
            .into_iter()
            .collect::<Decisions>()
            .has_fallback());
    }
}
