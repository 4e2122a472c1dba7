//! `[bfd_profiles.NAME]`: BFD timers a peer refers to with `bfd = "NAME"`, named and shaped
//! like MetalLB's BFDProfile.

use crate::bfd::Params;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdProfile {
    /// The slowest rate at which we want packets, in milliseconds (default 300).
    #[serde(default = "default_interval")]
    pub receive_interval_ms: u32,
    /// How often we want to send once Up, in milliseconds (default 300).
    #[serde(default = "default_interval")]
    pub transmit_interval_ms: u32,
    /// Packets missed before the session is declared down (default 3).
    #[serde(default = "default_multiplier")]
    pub detect_multiplier: u8,
    /// Wait for the peer to start (RFC 5880 §6.1 Passive role).
    #[serde(default)]
    pub passive: bool,
    /// Multihop sessions: the lowest TTL accepted (default 254, one router away). Single-hop
    /// sessions always require 255 (RFC 5881 §5).
    #[serde(default = "default_minimum_ttl")]
    pub minimum_ttl: u8,
}

fn default_interval() -> u32 {
    300
}

fn default_multiplier() -> u8 {
    3
}

fn default_minimum_ttl() -> u8 {
    254
}

impl BfdProfile {
    pub fn params(&self) -> Params {
        Params {
            desired_min_tx: Duration::from_millis(self.transmit_interval_ms as u64),
            required_min_rx: Duration::from_millis(self.receive_interval_ms as u64),
            detect_mult: self.detect_multiplier,
            passive: self.passive,
        }
    }

    /// What is wrong with it, as (field, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, v) in [
            ("receive_interval_ms", self.receive_interval_ms),
            ("transmit_interval_ms", self.transmit_interval_ms),
        ] {
            if !(10..=60_000).contains(&v) {
                return Err((field, format!("{v} ms: 10..=60000")));
            }
        }
        if self.detect_multiplier < 2 {
            return Err((
                "detect_multiplier",
                "at least 2: with 1, a single lost packet takes the session down".into(),
            ));
        }
        if self.minimum_ttl == 0 {
            return Err(("minimum_ttl", "1..=255".into()));
        }
        Ok(())
    }
}
