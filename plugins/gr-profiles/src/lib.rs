//! Reference Graceful Restart profile: GR timers per router vendor, with per-vendor and per-peer
//! overrides, kept inside each vendor's limits.
//!
//! ```toml
//! [plugins.gr]
//! path = "plugins/gr_profiles.wasm"
//! [plugins.gr.config]
//! forwarding_preserved = true                      # F bit for every family (default true)
//! vendors = { juniper = { restart_time = 300 } }   # override a vendor's values
//! peers = { tor1 = { stale_path_time = 120 } }     # override one peer's values
//! peers = { edge = { long_lived_stale_time = 3600 } }  # RFC 9494 long-lived GR, seconds
//! ```
//! `long_lived_stale_time` is left to the config (`[global]` or the peer's entry) unless an
//! override sets it: whether a router should keep a restarting speaker's routes for hours is a
//! site decision, not a vendor default.
//! `restart_time` is what we advertise (how long the router keeps our routes while we restart);
//! `stale_path_time` and `selection_deferral_time` are our own helper/restarting timers.
//!
//! The table below gives each vendor's documented default and the largest restart time its
//! configuration accepts, named by the command that sets it. They are a starting point: check
//! them against the release you run, and override them in the config where they differ.

use gracewire_sdk::gr::{FamilyFlags, GrTimers, Guest, PeerCapability};
use gracewire_sdk::types::Peer;
use gracewire_sdk::{log, Level};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Profile {
    restart_time: u16,
    stale_path_time: u32,
    selection_deferral_time: u32,
    /// The largest restart time the vendor's helper accepts from its configuration range.
    max_restart_time: u16,
    notification: bool,
    long_lived_stale_time: Option<u32>,
}

const fn p(restart_time: u16, stale_path_time: u32, max_restart_time: u16) -> Profile {
    Profile {
        restart_time,
        stale_path_time,
        selection_deferral_time: 360,
        max_restart_time,
        notification: true,
        long_lived_stale_time: None,
    }
}

/// Vendor profiles. Sources: each vendor's BGP configuration guide for the commands named.
fn builtin(vendor: &str) -> Option<Profile> {
    Some(match vendor {
        // IOS XR: `bgp graceful-restart restart-time` 1-4095 (default 120),
        // `bgp graceful-restart stalepath-time` 1-4095 (default 360).
        "cisco-iosxr" => p(120, 360, 4095),
        // IOS XE: `bgp graceful-restart restart-time` 1-3600 (default 120),
        // `bgp graceful-restart stalepath-time` 1-3600 (default 360).
        "cisco-iosxe" => p(120, 360, 3600),
        // NX-OS: `graceful-restart restart-time` 1-3600 (default 120),
        // `graceful-restart stalepath-time` 1-3600 (default 300).
        "cisco-nxos" => p(120, 300, 3600),
        // Junos: `graceful-restart restart-time` 1-600 (default 120),
        // `graceful-restart stale-routes-time` 1-600 (default 300).
        "juniper" => p(120, 300, 600),
        // Arista EOS: `graceful-restart restart-time` 1-3600 (default 300),
        // `graceful-restart stalepath-time` 1-3600 (default 300).
        "arista" => p(300, 300, 3600),
        // Nokia SR OS: `graceful-restart stale-routes-time` 1-3600 (default 360).
        "nokia" => p(120, 360, 3600),
        // Huawei VRP: `graceful-restart timer restart` 3-3600 (default 150),
        // `graceful-restart timer wait-for-rib` 3-3000 (default 600).
        "huawei" => Profile {
            selection_deferral_time: 600,
            ..p(150, 360, 3600)
        },
        // FRR: `bgp graceful-restart restart-time` 0-4095 (default 120), `stalepath-time`
        // 1-4095 (default 360), `select-defer-time` 0-3600 (default 360).
        "frr" => p(120, 360, 4095),
        // BIRD 2: `graceful restart time` (default 120); no RFC 8538 support, N is harmless.
        "bird" => p(120, 360, 4095),
        // GoBGP: `graceful-restart.config.restart-time` (12-bit field).
        "gobgp" => p(120, 360, 4095),
        "default" => p(120, 360, 4095),
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Override {
    restart_time: Option<u16>,
    stale_path_time: Option<u32>,
    selection_deferral_time: Option<u32>,
    notification: Option<bool>,
    long_lived_stale_time: Option<u32>,
}

impl Override {
    fn apply(&self, p: &mut Profile) {
        p.restart_time = self.restart_time.unwrap_or(p.restart_time);
        p.stale_path_time = self.stale_path_time.unwrap_or(p.stale_path_time);
        p.selection_deferral_time = self
            .selection_deferral_time
            .unwrap_or(p.selection_deferral_time);
        p.notification = self.notification.unwrap_or(p.notification);
        p.long_lived_stale_time = self.long_lived_stale_time.or(p.long_lived_stale_time);
    }
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_true")]
    forwarding_preserved: bool,
    #[serde(default)]
    vendors: BTreeMap<String, Override>,
    #[serde(default)]
    peers: BTreeMap<String, Override>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            forwarding_preserved: true,
            vendors: BTreeMap::new(),
            peers: BTreeMap::new(),
        }
    }
}

thread_local! {
    static CONFIG: RefCell<Config> = RefCell::new(Config::default());
}

pub struct GrProfiles;

impl Guest for GrProfiles {
    fn init(config: String) -> Result<(), String> {
        let config: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&config).map_err(|e| format!("gr-profiles plugin config: {e}"))?
        };
        for (name, o) in &config.vendors {
            let Some(base) = builtin(name) else {
                return Err(format!("vendors.{name}: unknown vendor (known: cisco-iosxr, cisco-iosxe, cisco-nxos, juniper, arista, nokia, huawei, frr, bird, gobgp, default)"));
            };
            if let Some(t) = o.restart_time.filter(|t| *t > base.max_restart_time) {
                return Err(format!(
                    "vendors.{name}.restart_time: {t} s is over {name}'s limit of {} s",
                    base.max_restart_time
                ));
            }
        }
        let overrides = config.vendors.iter().chain(&config.peers);
        if let Some((name, _)) = overrides
            .clone()
            .find(|(_, o)| o.long_lived_stale_time.is_some_and(|t| t > 0xFF_FFFF))
        {
            return Err(format!(
                "{name}.long_lived_stale_time: at most 16777215 s (24 bits, RFC 9494)"
            ));
        }
        if let Some((name, _)) = config
            .peers
            .iter()
            .find(|(_, o)| o.restart_time.is_some_and(|t| t > 4095))
        {
            return Err(format!(
                "peers.{name}.restart_time: at most 4095 s (12 bits, RFC 4724)"
            ));
        }
        log(
            Level::Info,
            &format!(
                "gr profiles: {} vendor and {} peer overrides",
                config.vendors.len(),
                config.peers.len()
            ),
        );
        CONFIG.with(|c| *c.borrow_mut() = config);
        Ok(())
    }

    fn timers(peer: Peer, peer_capability: Option<PeerCapability>) -> GrTimers {
        CONFIG.with(|c| {
            let config = c.borrow();
            let vendor = if builtin(&peer.vendor).is_some() {
                peer.vendor.as_str()
            } else {
                "default"
            };
            let mut profile = builtin(vendor).expect("known vendor");
            if let Some(o) = config.vendors.get(vendor) {
                o.apply(&mut profile);
            }
            if let Some(o) = config.peers.get(&peer.name) {
                o.apply(&mut profile);
            }
            if profile.restart_time > profile.max_restart_time {
                log(
                    Level::Warn,
                    &format!(
                        "peer {}: restart time {} s lowered to {vendor}'s limit of {} s",
                        peer.name, profile.restart_time, profile.max_restart_time
                    ),
                );
                profile.restart_time = profile.max_restart_time;
            }
            // A peer that cannot keep its own forwarding state gains nothing from a long wait
            // for its End-of-RIB: bound it by the restart time it advertised.
            if let Some(cap) = &peer_capability {
                if cap.restart_time > 0 && cap.families.iter().all(|f| !f.forwarding_preserved) {
                    profile.stale_path_time = profile.stale_path_time.min(cap.restart_time as u32);
                }
            }
            GrTimers {
                restart_time: profile.restart_time,
                stale_path_time: profile.stale_path_time,
                selection_deferral_time: profile.selection_deferral_time,
                forwarding_preserved: peer
                    .families
                    .iter()
                    .map(|f| FamilyFlags {
                        family: *f,
                        forwarding_preserved: config.forwarding_preserved,
                    })
                    .collect(),
                notification: profile.notification,
                long_lived_stale_time: profile.long_lived_stale_time,
            }
        })
    }
}

// Exported only in the .wasm: natively (tests, benchmarks) the crate is a plain library.
#[cfg(target_arch = "wasm32")]
gracewire_sdk::gr::export_gr_profile!(GrProfiles);

#[cfg(test)]
mod tests {
    use super::*;
    use gracewire_sdk::test_peer;
    use gracewire_sdk::types::Family;

    #[test]
    fn vendor_defaults_and_unknown_vendor_falls_back() {
        GrProfiles::init(String::new()).unwrap();
        let t = GrProfiles::timers(test_peer("a", 64512, 65001, "arista"), None);
        assert_eq!((t.restart_time, t.stale_path_time), (300, 300));
        let t = GrProfiles::timers(test_peer("b", 64512, 65001, "something-else"), None);
        assert_eq!(
            (t.restart_time, t.stale_path_time, t.selection_deferral_time),
            (120, 360, 360)
        );
        assert!(t.notification);
        assert_eq!(t.forwarding_preserved.len(), 2);
        assert!(t
            .forwarding_preserved
            .iter()
            .all(|f| f.forwarding_preserved));
    }

    #[test]
    fn overrides_apply_vendor_then_peer_and_limits_hold() {
        GrProfiles::init(
            r#"{"forwarding_preserved":false,"vendors":{"juniper":{"restart_time":500}},"peers":{"edge1":{"restart_time":900}}}"#.into(),
        )
        .unwrap();
        let t = GrProfiles::timers(test_peer("core1", 64512, 65001, "juniper"), None);
        assert_eq!(t.restart_time, 500);
        assert!(t
            .forwarding_preserved
            .iter()
            .all(|f| !f.forwarding_preserved));
        let t = GrProfiles::timers(test_peer("edge1", 64512, 65001, "juniper"), None);
        assert_eq!(t.restart_time, 600, "Junos accepts at most 600 s");
        assert!(gracewire_sdk::take_logs()
            .iter()
            .any(|(l, m)| *l == Level::Warn && m.contains("limit of 600")));
    }

    #[test]
    fn out_of_range_config_is_rejected() {
        let err =
            GrProfiles::init(r#"{"vendors":{"juniper":{"restart_time":700}}}"#.into()).unwrap_err();
        assert!(err.contains("vendors.juniper.restart_time"), "{err}");
        let err = GrProfiles::init(r#"{"vendors":{"ciso":{}}}"#.into()).unwrap_err();
        assert!(err.contains("unknown vendor"), "{err}");
    }

    #[test]
    fn peer_without_forwarding_state_bounds_the_stale_wait() {
        GrProfiles::init(String::new()).unwrap();
        let cap = PeerCapability {
            restart_state: true,
            notification: false,
            restart_time: 90,
            families: vec![FamilyFlags {
                family: Family::Ipv4Unicast,
                forwarding_preserved: false,
            }],
            long_lived_stale_time: 0,
        };
        let t = GrProfiles::timers(test_peer("b", 64512, 65001, "frr"), Some(cap));
        assert_eq!(t.stale_path_time, 90);
    }

    #[test]
    fn long_lived_stale_time_is_the_configs_unless_overridden() {
        GrProfiles::init(
            r#"{"vendors":{"frr":{"long_lived_stale_time":600}},"peers":{"edge":{"long_lived_stale_time":0}}}"#.into(),
        )
        .unwrap();
        let t = GrProfiles::timers(test_peer("a", 64512, 65001, "arista"), None);
        assert_eq!(
            t.long_lived_stale_time, None,
            "no override: the config decides"
        );
        let t = GrProfiles::timers(test_peer("b", 64512, 65001, "frr"), None);
        assert_eq!(t.long_lived_stale_time, Some(600));
        let t = GrProfiles::timers(test_peer("edge", 64512, 65001, "frr"), None);
        assert_eq!(
            t.long_lived_stale_time,
            Some(0),
            "a peer override turns it off"
        );
        let err = GrProfiles::init(r#"{"peers":{"x":{"long_lived_stale_time":16777216}}}"#.into())
            .unwrap_err();
        assert!(err.contains("x.long_lived_stale_time"), "{err}");
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod artifact_tests {
    use gracewire_sdk::test_peer;
    use gracewire_sdk::testing::{build_wasm, TestPlugin};

    #[test]
    fn the_wasm_gives_the_same_timers() {
        let wasm = build_wasm(env!("CARGO_MANIFEST_DIR"));
        let plugin = TestPlugin::gr(
            &wasm,
            r#"{"peers":{"tor1":{"restart_time":77,"long_lived_stale_time":3600}}}"#,
        )
        .unwrap();
        let t = plugin
            .timers(&test_peer("tor1", 64512, 65001, "frr"), None)
            .unwrap();
        assert_eq!((t.restart_time, t.stale_path_time), (77, 360));
        assert_eq!(t.long_lived_stale_time, Some(3600));
    }
}
