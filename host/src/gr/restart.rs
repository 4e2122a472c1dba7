//! The restarting speaker side of Graceful Restart (RFC 4724 §4.1): is this start a restart?
//!
//! gracewire keeps one small record in `state_dir`: when the process was last alive and whether
//! it stopped on purpose. It is rewritten at start, every few seconds while running (so a crash,
//! which writes nothing, is dated to within that interval), and at a planned stop. A start within
//! the advertised restart time of that moment is a restart: OPENs carry R=1 until the session
//! with each peer is up once, or the window closes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const RECORD_FILE: &str = "restart-state.json";
/// The longest record read: ~100 octets per health check, so room for 10,000 of them.
pub const MAX_RECORD: u64 = 1 << 20;
/// How often the running daemon refreshes `alive_at`.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestartRecord {
    /// Unix time (seconds) the process was last known to be alive.
    pub alive_at: u64,
    /// True when it stopped on purpose (SIGTERM), having closed its sessions gracefully.
    pub clean_stop: bool,
    /// The restart time it advertised: how long peers keep our routes.
    pub restart_time: u16,
    /// Families whose forwarding state it declared preserved (F=1): what peers keep for us.
    #[serde(default)]
    pub families: Vec<String>,
    /// The long-lived stale time it advertised (RFC 9494): peers keep our routes that much
    /// longer, as LLGR_STALE, so a start within it is still a restart.
    #[serde(default)]
    pub long_lived_stale_time: u32,
    /// Starts that were graceful restarts, over every run that kept this record.
    #[serde(default)]
    pub restarts: u64,
    /// Health checks an operator set up or down (`gracewire health set`), by check: kept
    /// across every restart and takeover until set back to auto.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub health_overrides: BTreeMap<String, crate::health::Forced>,
    /// Each health check's verdict and damping figure, by check, as of `alive_at` (or of the
    /// handover, for a takeover): the next process goes on from them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub health_checks: BTreeMap<String, crate::health::SavedCheck>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartState {
    /// A first start, or one too late for peers to still hold our routes.
    Fresh,
    /// Peers may still hold our routes for `remaining`.
    Restarting {
        down_for: Duration,
        remaining: Duration,
        clean_stop: bool,
    },
}

impl RestartState {
    pub fn is_restarting(&self) -> bool {
        matches!(self, RestartState::Restarting { .. })
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RestartRecord {
    /// What a start at `now` (unix seconds) is, given the record the last run left.
    pub fn classify(record: Option<&RestartRecord>, now: u64) -> RestartState {
        let Some(r) = record else {
            return RestartState::Fresh;
        };
        let down_for = now.saturating_sub(r.alive_at);
        let window = r.restart_time as u64 + r.long_lived_stale_time as u64;
        if down_for >= window {
            return RestartState::Fresh;
        }
        RestartState::Restarting {
            down_for: Duration::from_secs(down_for),
            remaining: Duration::from_secs(window - down_for),
            clean_stop: r.clean_stop,
        }
    }

    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(RECORD_FILE)
    }

    /// Reads the record; a missing or unreadable one means a fresh start.
    pub fn load(state_dir: &Path) -> Option<RestartRecord> {
        let bytes = crate::private::read_bounded(&Self::path(state_dir), MAX_RECORD)?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes atomically (temp file + rename), so a crash mid-write leaves the old record;
    /// owner-only, like everything in `state_dir`.
    pub fn store(&self, state_dir: &Path) -> std::io::Result<()> {
        crate::private::write_private(&Self::path(state_dir), &serde_json::to_vec(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_by_time_since_last_alive() {
        assert_eq!(RestartRecord::classify(None, 1000), RestartState::Fresh);
        let r = RestartRecord {
            alive_at: 1000,
            clean_stop: true,
            restart_time: 120,
            families: vec![],
            long_lived_stale_time: 0,
            restarts: 0,
            health_overrides: Default::default(),
            health_checks: Default::default(),
        };
        assert_eq!(
            RestartRecord::classify(Some(&r), 1030),
            RestartState::Restarting {
                down_for: Duration::from_secs(30),
                remaining: Duration::from_secs(90),
                clean_stop: true
            }
        );
        assert_eq!(RestartRecord::classify(Some(&r), 1120), RestartState::Fresh);
        // A clock that went backwards counts as no time passed.
        assert!(RestartRecord::classify(Some(&r), 900).is_restarting());
        // Long-lived GR: peers keep our routes past the restart time, so it is still a restart.
        let ll = RestartRecord {
            long_lived_stale_time: 3600,
            ..r
        };
        assert_eq!(
            RestartRecord::classify(Some(&ll), 1130),
            RestartState::Restarting {
                down_for: Duration::from_secs(130),
                remaining: Duration::from_secs(3590),
                clean_stop: true
            }
        );
        assert_eq!(
            RestartRecord::classify(Some(&ll), 1000 + 120 + 3600),
            RestartState::Fresh
        );
    }

    #[test]
    fn store_and_load_round_trip() {
        let dir = std::env::temp_dir().join(format!("gw-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(RestartRecord::load(&dir), None);
        let r = RestartRecord {
            alive_at: 5,
            clean_stop: false,
            restart_time: 90,
            families: vec!["ipv4-unicast".into()],
            long_lived_stale_time: 60,
            restarts: 3,
            health_overrides: Default::default(),
            health_checks: Default::default(),
        };
        r.store(&dir).unwrap();
        assert_eq!(RestartRecord::load(&dir), Some(r));
        std::fs::write(RestartRecord::path(&dir), "not json").unwrap();
        assert_eq!(RestartRecord::load(&dir), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_record_of_ten_thousand_health_checks_is_read_back() {
        let dir = std::env::temp_dir().join(format!("gw-restart-many-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let saved = crate::health::SavedCheck {
            probe: u64::MAX,
            machine: crate::health::Saved {
                up: false,
                merit: 1977.0123456789012,
                held: true,
            },
        };
        let r = RestartRecord {
            alive_at: u64::MAX,
            clean_stop: false,
            restart_time: 90,
            families: vec![],
            long_lived_stale_time: 0,
            restarts: 0,
            health_overrides: Default::default(),
            health_checks: (0..10_000)
                .map(|i| (format!("backend-pool-{i:05}"), saved))
                .collect(),
        };
        r.store(&dir).unwrap();
        let len = std::fs::metadata(RestartRecord::path(&dir)).unwrap().len();
        assert!(len < MAX_RECORD, "{len}");
        assert_eq!(RestartRecord::load(&dir), Some(r));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
