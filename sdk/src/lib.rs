//! # gracewire-sdk
//!
//! Everything a gracewire policy plugin needs: the types and traits of the WIT contract
//! (`wit/policy.wit`, package `gracewire:policy@0.6.0`), an export macro per plugin kind, a
//! [`log`] that works both inside the host and in native unit tests, and helpers for the flat
//! batch layout.
//!
//! A plugin crate is two `impl`s and one macro: `init` takes the config, a `routes` resource
//! is made once per batch of candidate routes (precompute here), and it answers per peer, for
//! each route or, if it looks only at labels, family and peer, for each label set and family
//! ([`DecisionsBuilder::per_label_set`], [`LabelSelector`]):
//!
//! ```ignore
//! use gracewire_sdk::announce::{Decisions, Guest, GuestRoutes};
//! use gracewire_sdk::types::{Batch, Peer};
//! use gracewire_sdk::{DecisionsBuilder, announce_as_configured};
//!
//! struct AnnounceAll;
//! impl Guest for AnnounceAll {
//!     type Routes = AllRoutes;
//!     fn init(_config: String) -> Result<(), String> { Ok(()) }
//! }
//! struct AllRoutes(usize);
//! impl GuestRoutes for AllRoutes {
//!     // Labels only (here: none), so the answer is per label set, not per route.
//!     fn new(batch: Batch) -> Self { AllRoutes(batch.set_count()) }
//!     fn decide(&self, _peer: Peer) -> Decisions {
//!         let mut out = DecisionsBuilder::per_label_set(self.0);
//!         let all = out.announcement(announce_as_configured());
//!         out.fill(all);
//!         out.build()
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

/// The `announcement-policy` world: `Guest`, `GuestRoutes`, `Decisions` and its export macro.
pub mod announce {
    wit_bindgen::generate!({
        path: "../wit",
        world: "gracewire:policy/announcement-policy",
        pub_export_macro: true,
        export_macro_name: "export_announcement_policy",
        default_bindings_module: "gracewire_sdk::announce",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq, Hash],
    });
    pub use self::exports::gracewire::policy::announce::*;
}

/// The `gr-profile` world: `Guest`, `GrTimers` and its export macro.
pub mod gr {
    wit_bindgen::generate!({
        path: "../wit",
        world: "gracewire:policy/gr-profile",
        pub_export_macro: true,
        export_macro_name: "export_gr_profile",
        default_bindings_module: "gracewire_sdk::gr",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq, Hash],
        with: {
            "gracewire:policy/types@0.6.0": crate::announce::gracewire::policy::types,
            "gracewire:policy/host@0.6.0": crate::announce::gracewire::policy::host,
        },
    });
    pub use self::exports::gracewire::policy::gr::*;
}

/// The `community-tagger` world: `Guest`, `GuestRoutes`, `Tagging` and its export macro.
pub mod communities {
    wit_bindgen::generate!({
        path: "../wit",
        world: "gracewire:policy/community-tagger",
        pub_export_macro: true,
        export_macro_name: "export_community_tagger",
        default_bindings_module: "gracewire_sdk::communities",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq, Hash],
        with: {
            "gracewire:policy/types@0.6.0": crate::announce::gracewire::policy::types,
            "gracewire:policy/host@0.6.0": crate::announce::gracewire::policy::host,
        },
    });
    pub use self::exports::gracewire::policy::communities::*;
}

pub use announce::gracewire::policy::host::Level;
/// The types shared by every plugin kind.
pub use announce::gracewire::policy::types;
