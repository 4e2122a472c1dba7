//! # gracewire-sdk
//!
//! Everything a gracewire policy plugin needs: the types and traits of the WIT contract
//! (`wit/policy.wit`, package `gracewire:policy@0.1.0`), an export macro per plugin kind, a
//! [`log`] that works both inside the host and in native unit tests, and helpers for the flat
//! batch layout.
//!
//! A plugin crate is one `impl` and one macro:
//!
//! ```ignore
//! use gracewire_sdk::announce::{Decision, Guest};
//! use gracewire_sdk::types::{Batch, Peer};
//!
//! struct AnnounceAll;
//! impl Guest for AnnounceAll {
//!     fn init(_config: String) -> Result<(), String> { Ok(()) }
//!     fn decide(_peer: Peer, batch: Batch) -> Vec<Decision> {
//!         batch.routes.iter().map(|_| gracewire_sdk::announce_as_configured()).collect()
//!     }
//! }
//! #[cfg(target_arch = "wasm32")] // natively the crate stays a plain library
//! gracewire_sdk::announce::export_announcement_policy!(AnnounceAll);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; test its logic natively with
//! `cargo test`, and the built artifact with the [`testing`] harness (feature `testing`).

mod helpers;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;

pub use helpers::*;

/// The `announcement-policy` world: `Guest`, `Decision` and its export macro.
pub mod announce {
    wit_bindgen::generate!({
        path: "../wit",
        world: "gracewire:policy/announcement-policy",
        pub_export_macro: true,
        export_macro_name: "export_announcement_policy",
        default_bindings_module: "gracewire_sdk::announce",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

/// The `gr-profile` world: `Guest`, `GrTimers` and its export macro.
pub mod gr {
    wit_bindgen::generate!({
        path: "../wit",
        world: "gracewire:policy/gr-profile",
        pub_export_macro: true,
        export_macro_name: "export_gr_profile",
        default_bindings_module: "gracewire_sdk::gr",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "gracewire:policy/types@0.1.0": crate::announce::gracewire::policy::types,
            "gracewire:policy/host@0.1.0": crate::announce::gracewire::policy::host,
        },
    });
}

/// The `community-tagger` world: `Guest`, `Tag` and its export macro.
pub mod communities {
    wit_bindgen::generate!({
        path: "../wit",
        world: "gracewire:policy/community-tagger",
        pub_export_macro: true,
        export_macro_name: "export_community_tagger",
        default_bindings_module: "gracewire_sdk::communities",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "gracewire:policy/types@0.1.0": crate::announce::gracewire::policy::types,
            "gracewire:policy/host@0.1.0": crate::announce::gracewire::policy::host,
        },
    });
}

pub use announce::gracewire::policy::host::Level;
/// The types shared by every plugin kind.
pub use announce::gracewire::policy::types;
