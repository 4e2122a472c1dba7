//! What one plugin may take from the host per store: linear memory summed over every memory
//! of every core instance its component holds (wasmtime's `StoreLimits` caps each memory on
//! its own, so a component of 16 instances could take 16 times the cap), and `host.log`
//! lines, cut in length and in rate so a plugin cannot flood the daemon's log.

use std::time::Instant;
use wasmtime::ResourceLimiter;

/// Core instances, memories and tables one plugin's store may hold.
const MAX_INSTANCES: usize = 16;
const MAX_MEMORIES: usize = 16;
const MAX_TABLES: usize = 64;
/// Elements of one table (a pointer each): 8 MiB of table at most.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// A `host.log` line is cut at this many bytes (at a character boundary).
pub const LOG_LINE_MAX: usize = 1024;
/// `host.log` lines a plugin may write per second, across calls; beyond it they are counted and
/// one line says how many were dropped when logging resumes.
pub const LOG_LINES_PER_SECOND: u32 = 50;

/// The `ResourceLimiter` of one plugin's store, and its log budget.
pub struct StoreBudget {
    memory_cap: usize,
    memory_used: usize,
    log_window: Option<Instant>,
    log_lines: u32,
    pub(super) log_dropped: u64,
}

impl StoreBudget {
    pub fn new(memory_cap: usize) -> StoreBudget {
        StoreBudget {
            memory_cap,
            memory_used: 0,
            log_window: None,
            log_lines: 0,
            log_dropped: 0,
        }
    }

    /// Linear memory held by all of the store's memories together.
    #[cfg(test)]
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }

    /// Whether one more `host.log` line may be written now; returns the count of lines dropped
    /// since the last one written, to say so once.
    pub fn admit_log_line(&mut self, now: Instant) -> Option<u64> {
        let window = *self.log_window.get_or_insert(now);
        if now.duration_since(window).as_secs() >= 1 {
            self.log_window = Some(now);
            self.log_lines = 0;
        }
        if self.log_lines >= LOG_LINES_PER_SECOND {
            crate::bounds::reached(crate::bounds::Limit::PluginLog, "a plugin's log lines");
            self.log_dropped += 1;
            return None;
        }
        self.log_lines += 1;
        Some(std::mem::take(&mut self.log_dropped))
    }
}

/// `line` cut to [`LOG_LINE_MAX`] bytes at a character boundary, with control characters
/// escaped (it goes to a text log, see [`crate::text`]).
pub fn log_line(line: &str) -> String {
    let mut end = line.len().min(LOG_LINE_MAX);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let mut shown = crate::text::escape(&line[..end]);
    if end < line.len() {
        shown.push_str(&format!("… ({} bytes)", line.len()));
    }
    shown
}

impl ResourceLimiter for StoreBudget {
    /// Called for every memory's creation (from 0) and growth: the sum over all of them is what
    /// is capped. Past the cap the growth traps, and the call fails as any trap does.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if total > self.memory_cap || maximum.is_some_and(|m| desired > m) {
            crate::bounds::reached(crate::bounds::Limit::PluginMemory, "a plugin's memory");
            wasmtime::bail!(
                "plugin memory limit: growing to {desired} bytes would hold {total} bytes in all, \
                 over the {} bytes allowed",
                self.memory_cap
            );
        }
        self.memory_used = total;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("plugin memory could not grow"))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS || maximum.is_some_and(|m| desired > m) {
            crate::bounds::reached(crate::bounds::Limit::PluginMemory, "a plugin's tables");
            wasmtime::bail!("plugin table limit: {desired} elements");
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn memory_is_capped_over_all_memories_together() {
        let mut b = StoreBudget::new(10 << 20);
        assert!(b.memory_growing(0, 6 << 20, None).unwrap());
        // A second memory of 6 MiB would be within a per-memory cap, not within the sum.
        assert!(b.memory_growing(0, 6 << 20, None).is_err());
        assert!(b.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(b.memory_used(), 10 << 20);
        // Growing the first memory by one more page goes past the sum.
        assert!(b.memory_growing(6 << 20, (6 << 20) + 65536, None).is_err());
    }

    #[test]
    fn log_lines_are_rate_limited_and_the_drop_is_counted() {
        let mut b = StoreBudget::new(1);
        let t0 = Instant::now();
        for _ in 0..LOG_LINES_PER_SECOND {
            assert_eq!(b.admit_log_line(t0), Some(0));
        }
        assert_eq!(b.admit_log_line(t0), None);
        assert_eq!(b.admit_log_line(t0 + Duration::from_millis(999)), None);
        assert_eq!(b.admit_log_line(t0 + Duration::from_secs(1)), Some(2));
    }

    #[test]
    fn log_lines_are_cut_and_escaped() {
        let long = "é".repeat(1000);
        let shown = log_line(&long);
        assert!(shown.ends_with("… (2000 bytes)"), "{shown}");
        assert!(shown.len() <= LOG_LINE_MAX + 20);
        assert_eq!(log_line("a\nFAKE"), "a\\nFAKE");
    }
}
