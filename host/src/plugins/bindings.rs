//! Host-side bindings generated from `wit/policy.wit`, one module per world; the shared
//! `types` and `host` interfaces are generated once, in `announce`, and reused by the others.

pub mod announce {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gracewire:policy/announcement-policy",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub mod gr {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gracewire:policy/gr-profile",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "gracewire:policy/types": crate::plugins::bindings::announce::gracewire::policy::types,
            "gracewire:policy/host": crate::plugins::bindings::announce::gracewire::policy::host,
        },
    });
}

pub mod communities {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gracewire:policy/community-tagger",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "gracewire:policy/types": crate::plugins::bindings::announce::gracewire::policy::types,
            "gracewire:policy/host": crate::plugins::bindings::announce::gracewire::policy::host,
        },
    });
}

pub use announce::gracewire::policy::host::Level;
pub use announce::gracewire::policy::types;

/// The exported interface of each world: its records and the `routes` resource.
pub use announce::exports::gracewire::policy::announce as announce_api;
pub use communities::exports::gracewire::policy::communities as communities_api;
pub use gr::exports::gracewire::policy::gr as gr_api;
