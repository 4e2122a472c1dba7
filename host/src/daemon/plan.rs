//! `gracewire plan`: a candidate config and/or plugin files evaluated exactly as a reload or
//! swap would (the same config loader, plugin load with init and self-check, policy
//! evaluation and Adj-RIB-Out construction), and the per-peer difference to what each peer has
//! now. Nothing is applied: the candidate plugins are dropped with the answer.
//!
//! ```text
//!  Control(Plan) ─► Daemon: snapshot (policy set, candidates, peer views) ─► Effects::plan
//!                       blocking: load config, load changed plugins, evaluate per peer
//!  Input::Plan   ◄──────────────────────────────────────────────────────────┘
//!      └─► Daemon: desired table per peer, diffed against its Adj-RIB-Out ─► Effects::answer
//! ```

use super::provenance::Provenance;
use super::{Daemon, Effects, ReplyTo};
use crate::api::{Code, ControlResponse, PeerPlan, PlanReport, RouteChange, RouteView};
use crate::config::{Config, PluginConfig, Plugins};
use crate::plugins::{PluginKind, PluginRuntime};
use crate::policy::plugins::{evaluate, ActivePlugin, Candidates, Evaluation, PolicySet};
use crate::policy::{desired_routes, PeerView};
use crate::rib::Step;
use std::path::PathBuf;
use std::sync::Arc;

/// What a plan starts from, taken on the loop.
pub struct PlanJob {
    pub reply: ReplyTo,
    pub config: Option<PathBuf>,
    pub plugin_files: Vec<(PluginKind, PathBuf)>,
    pub policy: Arc<PolicySet>,
    pub plugins: Plugins,
    pub candidates: Arc<Candidates>,
    /// The health checks up now: a candidate config's announcements are gated by them, as a
    /// reload would gate them (a check the candidate adds is not up yet).
    pub healthy: std::collections::BTreeSet<Arc<str>>,
    /// For the report: the checks `healthy` supposes up or down.
    pub health: Vec<String>,
    /// Established peers: name, session epoch, view.
    pub peers: Vec<(Arc<str>, u64, PeerView)>,
    /// The controllers' announcements, which a candidate config is planned with.
    pub sources: crate::sources::Sources,
}

/// The evaluations, back on the loop (or why the candidate was refused).
pub struct PlanResult {
    pub reply: ReplyTo,
    pub outcome: Result<Evaluated, String>,
}

impl std::fmt::Debug for PlanResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(e) => write!(f, "Plan({} peers evaluated)", e.evaluations.len()),
            Err(why) => write!(f, "Plan(refused: {why})"),
        }
    }
}

pub struct Evaluated {
    candidates: Arc<Candidates>,
    evaluations: Vec<(Arc<str>, u64, PeerView, Evaluation)>,
    report: PlanReport,
}

impl PlanJob {
    /// Off the loop: everything that may be slow (the config file, plugin compiles, calls).
    pub fn run(self, runtime: &Arc<PluginRuntime>) -> PlanResult {
        let reply = self.reply;
        PlanResult {
            reply,
            outcome: self.evaluate(runtime),
        }
    }

    fn evaluate(self, runtime: &Arc<PluginRuntime>) -> Result<Evaluated, String> {
        let mut config = match &self.config {
            Some(path) => {
                let refused = |e: String| format!("the config would be refused by a reload: {e}");
                let c = Config::load(path).map_err(|e| refused(e.to_string()))?;
                self.sources.fit(&c).map_err(refused)?;
                Some(c)
            }
            None => None,
        };
        let mut report = PlanReport {
            health: self.health.clone(),
            ..PlanReport::default()
        };
        let wanted = config.as_ref().map(|c| &c.plugins).unwrap_or(&self.plugins);
        let mut set = (*self.policy).clone();
        for kind in PluginKind::ALL {
            let file = self.plugin_files.iter().find(|(k, _)| *k == kind);
            let running = self.plugins.get(kind);
            let mut cfg = wanted.get(kind).cloned();
            if let Some((_, path)) = file {
                let mut with_file = cfg.or_else(|| running.cloned()).unwrap_or_else(|| {
                    PluginConfig::at(path.clone()) // no settings anywhere: the defaults
                });
                with_file.path = path.clone();
                cfg = Some(with_file);
            } else if cfg.as_ref() == running {
                continue; // unchanged: the running version answers
            }
            let Some(cfg) = cfg else {
                report.plugins.push(format!("{}: removed", kind.name()));
                set = set.with(kind, None);
                continue;
            };
            let active = ActivePlugin::load(runtime, kind, &cfg).map_err(|e| {
                format!(
                    "the {} plugin {} would be rejected by a swap: {e}",
                    kind.name(),
                    cfg.path.display()
                )
            })?;
            report.plugins.push(format!(
                "{}: {} {}",
                kind.name(),
                active.plugin.name,
                active.plugin.sha256
            ));
            set = set.with(kind, Some(active));
        }
        let candidates = match config.as_mut() {
            Some(c) => {
                let names: Vec<String> = c.peers().map(|p| p.name().to_string()).collect();
                let running: Vec<&str> = self.peers.iter().map(|(n, _, _)| &**n).collect();
                report.new_peers = names
                    .iter()
                    .filter(|n| !running.contains(&n.as_str()))
                    .cloned()
                    .collect();
                report.removed_peers = running
                    .iter()
                    .filter(|n| !names.iter().any(|m| m == *n))
                    .map(|n| n.to_string())
                    .collect();
                let mut announce = c.take_announcements();
                announce.extend(self.sources.announcements().cloned());
                let announce = super::health::gate(announce, &self.healthy);
                Arc::new(Candidates::new(announce))
            }
            None => self.candidates.clone(),
        };
        let evaluations = self
            .peers
            .into_iter()
            .filter(|(name, _, _)| !report.removed_peers.iter().any(|r| **r == **name))
            .map(|(name, epoch, view)| {
                let evaluation = evaluate(&set, &view, &candidates);
                (name, epoch, view, evaluation)
            })
            .collect();
        Ok(Evaluated {
            candidates,
            evaluations,
            report,
        })
    }
}

impl Daemon {
    /// `supposed`: the health checks taken as up or down (see [`Health::suppose`]).
    ///
    /// [`Health::suppose`]: super::health::Health::suppose
    pub(super) fn start_plan(
        &mut self,
        reply: ReplyTo,
        config: Option<PathBuf>,
        plugin_files: Vec<(PluginKind, PathBuf)>,
        supposed: Option<super::health::Supposed>,
        fx: &mut dyn Effects,
    ) {
        let peers = self
            .peers
            .iter()
            .filter_map(|(name, p)| {
                let up = p.up.as_ref()?;
                Some((name.clone(), up.epoch, p.view(name, &self.config.global)))
            })
            .collect();
        let (candidates, healthy, health) = match supposed {
            Some(s) => (Arc::new(s.candidates), s.up, s.lines),
            None => (self.export.candidates.clone(), self.health.up(), Vec::new()),
        };
        fx.plan(PlanJob {
            reply,
            config,
            plugin_files,
            policy: self.export.policy.clone(),
            plugins: self.config.plugins.clone(),
            candidates,
            healthy,
            health,
            peers,
            sources: self.announced.api.clone(),
        });
    }

    pub(super) fn on_plan(&mut self, result: PlanResult, fx: &mut dyn Effects) {
        let answer = match result.outcome {
            Err(error) => ControlResponse::error(Code::FailedPrecondition, error),
            Ok(evaluated) => ControlResponse::Plan(self.plan_report(evaluated)),
        };
        fx.answer(result.reply, answer);
        self.collect_interners(true);
    }

    /// Each peer's desired table under the candidate, against its Adj-RIB-Out.
    fn plan_report(&mut self, evaluated: Evaluated) -> PlanReport {
        let Evaluated {
            candidates,
            evaluations,
            mut report,
        } = evaluated;
        let drain = self.drain_state();
        for (name, epoch, view, evaluation) in evaluations {
            let Some(peer) = self.peers.get(&name) else {
                continue;
            };
            if peer.up.as_ref().is_none_or(|up| up.epoch != epoch) {
                continue; // the session ended meanwhile
            }
            let desired = desired_routes(
                &view,
                &candidates.announce,
                &evaluation.decisions,
                &peer.adj_out,
                drain,
                self.export.interner(),
            );
            let current = &peer.adj_out.table().routes;
            let mut plan = PeerPlan {
                peer: name.to_string(),
                errors: evaluation
                    .errors
                    .iter()
                    .map(|(kind, e)| format!("{}: {e}", kind.name()))
                    .collect(),
                ..PeerPlan::default()
            };
            let now_by = Provenance::new(&candidates, &evaluation.decisions);
            let before_by = peer.up.as_ref().and_then(|up| up.applied.as_ref());
            let before_by = before_by.map(Provenance::of_applied);
            current.diff(&desired, |step| match step {
                Step::Gone(prefix) => {
                    plan.withdraw.push(*prefix);
                }
                Step::Changed(prefix, route) => {
                    let mut new =
                        RouteView::new(&name, *prefix, route.next_hop, &route.attrs, false, false);
                    new.decided_by = now_by.of(prefix);
                    match current.get(prefix) {
                        None => plan.announce.push(new),
                        Some(old) => {
                            let mut old = RouteView::new(
                                &name,
                                *prefix,
                                old.next_hop,
                                &old.attrs,
                                false,
                                false,
                            );
                            if let Some(before) = &before_by {
                                old.decided_by = before.of(prefix);
                            }
                            plan.change.push(RouteChange {
                                differences: old.differences(&new),
                                route: new,
                            });
                        }
                    }
                }
            });
            plan.unchanged = current.len() - plan.withdraw.len() - plan.change.len();
            report.peers.push(plan);
        }
        report.peers.sort_by(|a, b| a.peer.cmp(&b.peer));
        report
    }
}
