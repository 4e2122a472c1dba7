//! Plugin benchmarks: per-route cost of each plugin kind on batches of 10k routes, next to the
//! same policy compiled natively (the plugin crates themselves, linked as libraries), and swap
//! latency from a file write to the new version in service, uncached and cached.
//!
//! Per-route cost has two steps, as the daemon uses them: `prepare` (the batch crosses into the
//! plugin's `routes` resource, once per config version; the first peer pays it) and `decide`
//! (every further peer and re-evaluation). Both end with every route's choice read out, as the
//! daemon reads it (an answer per label set is fanned out to the routes), on both sides.
//!
//! `cargo run --release -p gracewire-e2e --bin plugin-bench`

use gracewire::plugins::answer::route_choices;
use gracewire::plugins::bindings::types as host_types;
use gracewire::plugins::watch::watch;
use gracewire::plugins::{PluginKind, PluginLimits, PluginRuntime, RouteBatch};
use gracewire_e2e::python::build_python_plugin;
use gracewire_sdk::testing::build_wasm;
use gracewire_sdk::types::Batch;
use gracewire_sdk::{test_peer, BatchBuilder};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batch size; `PLUGIN_BENCH_ROUTES` overrides it (to see the fixed cost per call).
static ROUTES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("PLUGIN_BENCH_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
});
const ROUNDS: usize = 30;

fn convert<A: serde::Serialize, B: serde::de::DeserializeOwned>(a: &A) -> B {
    serde_json::from_value(serde_json::to_value(a).unwrap()).unwrap()
}

fn batch() -> Batch {
    let pools = ["public", "private", "edge", "lab"];
    let mut b = BatchBuilder::default();
    for i in 0..*ROUTES {
        let prefix = format!("10.{}.{}.{}/32", i >> 16, (i >> 8) & 255, i & 255);
        let service = format!("svc{}", i % 50);
        b = b.route(&prefix, &[("pool", pools[i % 4]), ("service", &service)]);
    }
    b.build()
}

/// Reads every route's choice, as the daemon does when it applies an answer.
fn read_host(choices: &host_types::Choices, batch: &RouteBatch) -> u64 {
    route_choices(choices, &batch.batch).map(u64::from).sum()
}

fn read_sdk(choices: &gracewire_sdk::types::Choices, batch: &Batch) -> u64 {
    choices.routes(batch).map(u64::from).sum()
}

/// Samples of `ROUNDS` calls each; the median sample, per route.
const SAMPLES: usize = 7;

/// The batches both sides are measured on.
struct Inputs {
    /// Prepare: a batch the plugin has not prepared yet, each call.
    batches: Vec<RouteBatch>,
    /// Decide: one batch, prepared once.
    prepared: RouteBatch,
    /// The same for the native build (copies, so neither side reads a cache-hot batch).
    sdk_batches: Vec<Batch>,
    sdk_batch: Batch,
}

/// Prepare and decide rows for one plugin: `wasm` calls the loaded plugin, `new` and `native`
/// the same crate built natively; each ends with every route's choice read.
fn compare<R>(
    kind: &str,
    inputs: &Inputs,
    wasm: impl Fn(&RouteBatch) -> host_types::Choices,
    new: impl Fn(Batch) -> R,
    native: impl Fn(&R) -> gracewire_sdk::types::Choices,
) {
    let mut next = inputs.batches.iter().cycle();
    let wasm_prepare = per_route_ns(|| {
        let batch = next.next().unwrap();
        black_box(read_host(&wasm(batch), batch));
    });
    let prepared = &inputs.prepared;
    let wasm_decide = per_route_ns(|| {
        black_box(read_host(&wasm(prepared), prepared));
    });
    let mut next = inputs.sdk_batches.iter().cycle();
    let native_prepare = per_route_ns(|| {
        let batch = next.next().unwrap();
        let routes = new(batch.clone());
        black_box(read_sdk(&native(&routes), batch));
    });
    let routes = new(inputs.sdk_batch.clone());
    let native_decide = per_route_ns(|| {
        black_box(read_sdk(&native(&routes), &inputs.sdk_batch));
    });
    for (step, wasm, native) in [
        ("prepare", wasm_prepare, native_prepare),
        ("decide", wasm_decide, native_decide),
    ] {
        println!(
            "{kind:<14} {step:<8} {wasm:>12.1} {native:>12.1} {:>7.2}x",
            wasm / native
        );
    }
}

fn per_route_ns(mut f: impl FnMut()) -> f64 {
    f(); // warm up (instantiation, caches)
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                f();
            }
            start.elapsed().as_nanos() as f64 / (ROUNDS * *ROUTES) as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
}

fn main() -> anyhow::Result<()> {
    let ws = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let announce_wasm = build_wasm(&format!("{ws}/plugins/announce"));
    let communities_wasm = build_wasm(&format!("{ws}/plugins/communities"));
    let gr_wasm = build_wasm(&format!("{ws}/plugins/gr-profiles"));
    let runtime = Arc::new(PluginRuntime::new(None)?);
    let limits = PluginLimits {
        timeout: Duration::from_secs(5),
        memory_bytes: 128 << 20,
    };
    let announce_cfg = r#"{"default":"skip","rules":[{"pools":["private"],"action":"skip"},{"pools":["public","edge"],"aggregation_length_v4":16,"med":10},{"services":["svc7"],"prepend":2}]}"#;
    let communities_cfg = r#"{"aliases":{"cust":"64512:1000"},"rules":[{"pools":["public"],"add":["cust","no-export"]},{"services":["svc3"],"add":["large:64512:1:3"]}]}"#;

    let sdk_batch = batch();
    // Prepare takes a batch it has not seen, on both sides: one copy per round, so neither
    // side reads a batch that is still hot in the cache from the round before.
    let sdk_batches: Vec<_> = (0..=ROUNDS).map(|_| sdk_batch.clone()).collect();
    let sdk_peer = test_peer("tor1", 64512, 65001, "frr");
    let host_batch: host_types::Batch = convert(&sdk_batch);
    let host_peer: host_types::Peer = convert(&sdk_peer);
    println!(
        "plugin per-route cost, batches of {} routes, median of {SAMPLES} samples of {ROUNDS} rounds, {} cores",
        *ROUTES,
        std::thread::available_parallelism()?.get()
    );
    println!(
        "prepare: the batch handed to the plugin's `routes` resource (once per config version)"
    );
    println!("decide: one peer's answer from the prepared batch (per peer, per re-evaluation)");
    println!(
        "{:<14} {:<8} {:>12} {:>12} {:>8}",
        "kind", "step", "wasm ns/rt", "native ns/rt", "ratio"
    );
    // A fresh RouteBatch per call makes the plugin prepare again; the same one is prepared
    // once and then only decided on.
    let inputs = Inputs {
        batches: (0..=ROUNDS)
            .map(|_| RouteBatch::new(host_batch.clone()))
            .collect(),
        prepared: RouteBatch::new(host_batch.clone()),
        sdk_batches,
        sdk_batch: sdk_batch.clone(),
    };

    let plugin = runtime.load(
        PluginKind::Announce,
        &announce_wasm,
        announce_cfg.into(),
        limits,
    )?;
    use gracewire_plugin_announce::{AnnouncePolicy, AnnounceRoutes};
    use gracewire_sdk::announce::{Guest as _, GuestRoutes as _};
    AnnouncePolicy::init(announce_cfg.into()).map_err(anyhow::Error::msg)?;
    compare(
        "announce",
        &inputs,
        |b| plugin.decide(&host_peer, b).unwrap().choice,
        AnnounceRoutes::new,
        |r| r.decide(sdk_peer.clone()).choice,
    );

    let plugin = runtime.load(
        PluginKind::Communities,
        &communities_wasm,
        communities_cfg.into(),
        limits,
    )?;
    use gracewire_plugin_communities::{CommunityTagger, TaggedRoutes};
    use gracewire_sdk::communities::{Guest as _, GuestRoutes as _};
    CommunityTagger::init(communities_cfg.into()).map_err(anyhow::Error::msg)?;
    compare(
        "communities",
        &inputs,
        |b| plugin.tag(&host_peer, b).unwrap().choice,
        TaggedRoutes::new,
        |r| r.tag(sdk_peer.clone()).choice,
    );

    // A policy that answers per route (the fault fixture: it skips `pool = private`).
    let fixture = build_wasm(&format!("{ws}/tests/plugins/fixture"));
    let plugin = runtime.load(PluginKind::Announce, &fixture, "{}".into(), limits)?;
    use gracewire_test_fixture_plugin::{Fixture, FixtureRoutes};
    Fixture::init("{}".into()).map_err(anyhow::Error::msg)?;
    compare(
        "per-route",
        &inputs,
        |b| plugin.decide(&host_peer, b).unwrap().choice,
        FixtureRoutes::new,
        |r| r.decide(sdk_peer.clone()).choice,
    );

    // GR profiles are asked per peer, not per route: cost per call.
    let plugin = runtime.load(PluginKind::Gr, &gr_wasm, "{}".into(), limits)?;
    let calls = 10_000;
    let start = Instant::now();
    for _ in 0..calls {
        plugin.timers(&host_peer, None).unwrap();
    }
    let wasm = start.elapsed().as_nanos() as f64 / calls as f64;
    use gracewire_sdk::gr::Guest as _;
    gracewire_plugin_gr_profiles::GrProfiles::init("{}".into()).map_err(anyhow::Error::msg)?;
    let start = Instant::now();
    for _ in 0..calls {
        black_box(gracewire_plugin_gr_profiles::GrProfiles::timers(
            sdk_peer.clone(),
            None,
        ));
    }
    let native = start.elapsed().as_nanos() as f64 / calls as f64;
    println!(
        "{:<14} {:>12.1} {:>12.1} {:>7.2}x   (ns per call, per peer)",
        "gr-profile",
        wasm,
        native,
        wasm / native
    );

    // Swap latency: from the rename of a new file to the new version loaded, initialised and
    // self-checked, through the real watcher (debounce included).
    println!("\nswap latency (file rename -> new version in service)");
    let dir = tempfile::tempdir()?;
    let target = dir.path().join("announce.wasm");
    std::fs::copy(&announce_wasm, &target)?;
    let cached_runtime = Arc::new(PluginRuntime::new(Some(dir.path().join("cache")))?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = watch(vec![(PluginKind::Announce, target.clone())], tx)?;
    for (label, runs) in [("uncached", 1), ("cached", 5)] {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let tmp = dir.path().join("announce.new");
            std::fs::copy(&announce_wasm, &tmp)?;
            let written = Instant::now();
            std::fs::rename(&tmp, &target)?;
            rt.block_on(rx.recv());
            cached_runtime.load(PluginKind::Announce, &target, announce_cfg.into(), limits)?;
            samples.push(written.elapsed().as_secs_f64() * 1e3);
        }
        samples.sort_by(f64::total_cmp);
        println!(
            "{label:<9} median {:.1} ms over {runs} run(s)",
            samples[samples.len() / 2]
        );
    }

    // The compile step alone: Cranelift, then the artifact it left in the cache.
    let bytes = std::fs::read(&announce_wasm)?;
    let fresh = PluginRuntime::new(Some(dir.path().join("compile-cache")))?;
    let compile = |expect_cached: bool| -> anyhow::Result<f64> {
        let start = Instant::now();
        let (_, cached) = fresh.compile(&bytes)?;
        anyhow::ensure!(cached == expect_cached, "cache state");
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };
    let cranelift = compile(false)?;
    let cached = compile(true)?;
    println!("compile   Cranelift {cranelift:.1} ms, from the cache {cached:.2} ms");

    languages(
        &communities_wasm,
        communities_cfg,
        &inputs,
        &host_peer,
        limits,
    )
}

/// The community tagger in Rust and its Python port, side by side: the artifact, what a swap
/// costs (compile, then load: instantiate, init, self-check), and the per-route cost.
fn languages(
    rust_wasm: &std::path::Path,
    config: &str,
    inputs: &Inputs,
    peer: &host_types::Peer,
    limits: PluginLimits,
) -> anyhow::Result<()> {
    let python_wasm = build_python_plugin("plugins/communities-py", "community-tagger");
    println!(
        "\ncommunity tagger, Rust and Python ({} routes a batch)",
        *ROUTES
    );
    println!(
        "{:<7} {:>8} {:>11} {:>10} {:>8} {:>14} {:>13}",
        "plugin", "size MB", "compile ms", "cached ms", "swap ms", "prepare ns/rt", "decide ns/rt"
    );
    for (name, wasm) in [("Rust", rust_wasm), ("Python", python_wasm.as_path())] {
        let bytes = std::fs::read(wasm)?;
        let dir = tempfile::tempdir()?;
        let runtime = Arc::new(PluginRuntime::new(Some(dir.path().join("cache")))?);
        let start = Instant::now();
        runtime.compile(&bytes)?;
        let compile = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        let (_, cached) = runtime.compile(&bytes)?;
        anyhow::ensure!(cached, "the second compile comes from the cache");
        let from_cache = start.elapsed().as_secs_f64() * 1e3;
        // A swap with the artifact cached: read, hash, deserialize, instantiate, init,
        // self-check (the median of five).
        let mut swaps: Vec<f64> = (0..5)
            .map(|_| {
                let start = Instant::now();
                runtime.load(PluginKind::Communities, wasm, config.into(), limits)?;
                Ok(start.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<anyhow::Result<_>>()?;
        swaps.sort_by(f64::total_cmp);
        let swap = swaps[swaps.len() / 2];
        let plugin = runtime.load(PluginKind::Communities, wasm, config.into(), limits)?;
        let mut next = inputs.batches.iter().cycle();
        let prepare = per_route_ns(|| {
            let batch = next.next().unwrap();
            black_box(read_host(&plugin.tag(peer, batch).unwrap().choice, batch));
        });
        let decide = per_route_ns(|| {
            let batch = &inputs.prepared;
            black_box(read_host(&plugin.tag(peer, batch).unwrap().choice, batch));
        });
        println!(
            "{name:<7} {:>8.2} {compile:>11.0} {from_cache:>10.1} {swap:>8.1} {prepare:>14.1} {decide:>13.2}",
            bytes.len() as f64 / 1e6,
        );
    }
    println!("compile: Cranelift, uncached; cached: the artifact from the compile cache;");
    println!("swap: read, hash, load from the cache, instantiate, init and self-check");
    Ok(())
}
