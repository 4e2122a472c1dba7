//! The epoch ticker behind plugin call deadlines. wasmtime traps a call whose store deadline
//! (in epoch ticks) has passed; a thread advances the engine's epoch every `TICK`, but only
//! while some plugin call is running. Idle, the daemon has no timer waking it 200 times a
//! second: the thread parks until a call starts (and looks once a second whether the engine
//! is gone, to end).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Duration;
use wasmtime::Engine;

/// How often the epoch ticks while a call runs: the granularity of call deadlines.
pub const TICK: Duration = Duration::from_millis(5);

/// Starts ticks while a call runs. Ticks only count during calls, which is what a deadline
/// set at a call's start measures.
pub struct EpochTicker {
    running: Arc<AtomicUsize>,
    thread: Thread,
}

impl EpochTicker {
    /// Spawns the ticker thread for `engine`; it ends once the engine is dropped.
    pub fn spawn(engine: &Engine) -> std::io::Result<EpochTicker> {
        let weak = engine.weak();
        EpochTicker::spawn_with(move || {
            let Some(engine) = weak.upgrade() else {
                return false;
            };
            engine.increment_epoch();
            true
        })
    }

    /// The ticker around `tick`, which advances the epoch and says whether to go on.
    fn spawn_with(tick: impl Fn() -> bool + Send + 'static) -> std::io::Result<EpochTicker> {
        let running = Arc::new(AtomicUsize::new(0));
        let calls = running.clone();
        let handle = std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || loop {
                let idle = calls.load(Ordering::Acquire) == 0;
                if idle {
                    // An unpark from `call` that came first is kept: no start is missed.
                    std::thread::park_timeout(Duration::from_secs(1));
                }
                // Idle, the tick once a second only finds out whether the engine is gone (a
                // tick between calls changes no deadline: each is set when its call starts).
                if !tick() {
                    return;
                }
                if !idle {
                    std::thread::sleep(TICK);
                }
            })?;
        Ok(EpochTicker {
            running,
            thread: handle.thread().clone(),
        })
    }

    /// Ticks until the guard is dropped (calls may nest or run on several threads).
    pub fn call(&self) -> Ticking<'_> {
        if self.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Ticking(self)
    }
}

/// A running call; dropping it lets the ticker park again when no other call runs.
pub struct Ticking<'a>(&'a EpochTicker);

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn counting() -> (EpochTicker, Arc<AtomicU64>) {
        let ticks = Arc::new(AtomicU64::new(0));
        let t = ticks.clone();
        let ticker = EpochTicker::spawn_with(move || {
            t.fetch_add(1, Ordering::SeqCst);
            true
        })
        .unwrap();
        (ticker, ticks)
    }

    #[test]
    fn the_epoch_moves_only_while_a_call_runs() {
        let (ticker, ticks) = counting();
        std::thread::sleep(Duration::from_millis(200));
        // Idle it ticks once a second, to notice the engine is gone.
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            0,
            "ticked with no call running"
        );
        let call = ticker.call();
        std::thread::sleep(Duration::from_millis(200));
        let during = ticks.load(Ordering::SeqCst);
        // 40 ticks at 5 ms; a loaded machine may give fewer, but never none.
        assert!(during >= 5, "only {during} ticks in 200 ms of a call");
        drop(call);
        std::thread::sleep(Duration::from_millis(50));
        let after = ticks.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            after,
            "ticked after the call ended"
        );
    }

    #[test]
    fn nested_calls_tick_until_the_last_ends() {
        let (ticker, ticks) = counting();
        let outer = ticker.call();
        let inner = ticker.call();
        drop(inner);
        let before = ticks.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            ticks.load(Ordering::SeqCst) > before,
            "stopped while the outer call ran"
        );
        drop(outer);
    }
}
