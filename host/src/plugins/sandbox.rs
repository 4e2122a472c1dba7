//! What a plugin sees of WASI: deterministic stand-ins that give nothing real.
//!
//! Language runtimes built into components (CPython via componentize-py, JavaScript via
//! componentize-js, Rust's std) call WASI at start-up: the environment, the clock, random
//! bytes for hash seeds, stdio. Linking those imports as traps (as gracewire once did) refuses
//! every such plugin; granting them would give plugins the machine. `wasmtime-wasi` provides
//! the interfaces; this module configures each to the smallest deterministic answer, so the
//! same input always gets the same answer and a plugin learns nothing about the host:
//!
//! | interface | stand-in |
//! |---|---|
//! | `wasi:cli/environment` | no variables, no arguments, no working directory (Python then says `/`, where nothing is open) |
//! | `wasi:cli/stdin` | closed (reads end at once) |
//! | `wasi:cli/stdout`, `stderr` | each line to gracewire's debug log; the last 4 KiB kept and added to the error when a call fails (a Python traceback) |
//! | `wasi:cli/exit` | traps, like any other fault |
//! | `wasi:clocks/wall-clock` | always 1970-01-01T00:00:00Z |
//! | `wasi:clocks/monotonic-clock` | always 0; waiting on it (`subscribe-*`, e.g. Python's `time.sleep`) traps, so a plugin cannot hold a worker thread outside its deadline |
//! | `wasi:random/*` | the same fixed pseudo-random sequence for every instance |
//! | `wasi:filesystem` | no preopened directories: there is no path to open |
//! | `wasi:sockets` | TCP, UDP and name lookup refused |

use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// How much of a plugin's output is kept to explain a failed call.
const OUTPUT_TAIL: usize = 4096;
/// The `wasi:clocks` version wasmtime-wasi 48 defines (components asking for any 0.2.x match it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A store's WASI state: the context, its resource table and the plugin's captured output.
pub struct Sandbox {
    ctx: WasiCtx,
    table: ResourceTable,
    output: PluginOutput,
}

impl Sandbox {
    /// A fresh sandbox for one instance of `plugin` (the name goes on its log lines).
    pub fn new(plugin: &str) -> Sandbox {
        let output = PluginOutput::new(plugin);
        let ctx = WasiCtxBuilder::new()
            .stdout(output.clone())
            .stderr(output.clone())
            .wall_clock(FixedClock)
            .monotonic_clock(FixedClock)
            .secure_random(wasmtime_wasi::Deterministic::new(fixed_bytes()))
            .insecure_random(wasmtime_wasi::Deterministic::new(fixed_bytes()))
            .insecure_random_seed(0x6772_6163_6577_6972_6500_0000_0000_0001)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Sandbox {
            ctx,
            table: ResourceTable::new(),
            output,
        }
    }

    /// The store data's `WasiView`.
    pub fn view(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }

    /// What the plugin last wrote to stdout or stderr (at most 4 KiB), for an error message.
    pub fn output_tail(&self) -> String {
        self.output.tail()
    }
}

/// Every WASI 0.2 import, as the stand-ins above.
pub fn add_to_linker<T: wasmtime_wasi::WasiView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    // wasmtime-wasi's subscribe sleeps the calling thread for real, where no epoch deadline
    // reaches: a `sleep(3600)` would hold a policy worker for an hour.
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |_, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            wasmtime::bail!("a plugin may not wait: time stands still in the sandbox")
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |_, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            wasmtime::bail!("a plugin may not wait: time stands still in the sandbox")
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The clock of the sandbox: the epoch, forever.
struct FixedClock;

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// 256 bytes of a fixed SplitMix64 sequence: "random" bytes that are the same in every
/// instance, so an answer never depends on them differing.
fn fixed_bytes() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..32)
        .flat_map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)).to_le_bytes()
        })
        .collect()
}

/// stdout and stderr of one instance: complete lines go to the debug log, the tail is kept.
#[derive(Clone)]
struct PluginOutput {
    plugin: Arc<str>,
    state: Arc<Mutex<OutputState>>,
}

#[derive(Default)]
struct OutputState {
    line: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
}

impl PluginOutput {
    fn new(plugin: &str) -> PluginOutput {
        PluginOutput {
            plugin: plugin.into(),
            state: Arc::default(),
        }
    }

    fn write(&self, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.tail.extend(bytes);
        let excess = state.tail.len().saturating_sub(OUTPUT_TAIL);
        state.tail.drain(..excess);
        for &b in bytes {
            if b == b'\n' || state.line.len() >= OUTPUT_TAIL {
                let line = String::from_utf8_lossy(&state.line);
                tracing::debug!(plugin = %self.plugin, "output: {}", crate::text::Escaped(&line));
                state.line.clear();
            }
            if b != b'\n' {
                state.line.push(b);
            }
        }
    }

    fn tail(&self) -> String {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b) = state.tail.as_slices();
        let mut text = Vec::with_capacity(a.len() + b.len());
        let _ = text.write_all(a);
        let _ = text.write_all(b);
        String::from_utf8_lossy(&text).trim_end().to_string()
    }
}

impl IsTerminal for PluginOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PluginOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Writes complete at once: the output only goes to memory and the log.
impl tokio::io::AsyncWrite for PluginOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_the_last_bytes_only() {
        let out = PluginOutput::new("t");
        out.write(b"Traceback (most recent call last):\n");
        out.write(&vec![b'x'; OUTPUT_TAIL]);
        out.write(b"\nValueError: bad pool\n");
        let tail = out.tail();
        assert!(tail.ends_with("ValueError: bad pool"), "{tail}");
        assert!(!tail.contains("Traceback"), "older output is dropped");
        assert!(tail.len() <= OUTPUT_TAIL);
    }

    #[test]
    fn each_output_line_goes_to_the_debug_log_with_the_plugin_name() {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let out = PluginOutput::new("tagger.wasm");
            out.write(b"first line\nsecond ");
            out.write(b"line\nunfinished");
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        for (line, text) in lines
            .iter()
            .zip(["output: first line", "output: second line"])
        {
            assert!(line.contains("DEBUG"), "{log}");
            assert!(
                line.contains(&format!("{text} plugin=tagger.wasm")),
                "{log}"
            );
        }
    }

    #[test]
    fn randomness_is_the_same_every_time_and_not_constant() {
        assert_eq!(fixed_bytes(), fixed_bytes());
        let bytes = fixed_bytes();
        assert_eq!(bytes.len(), 256);
        let distinct: std::collections::BTreeSet<u8> = bytes.iter().copied().collect();
        assert!(distinct.len() > 100, "{distinct:?}");
    }
}
