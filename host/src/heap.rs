//! Giving freed heap memory back to the operating system.
//!
//! glibc's allocator keeps pages that were freed in the middle of its heap. Parsing a config
//! builds a document many times the size of the result (a 10 MB file with 100k announcements
//! peaks at ~270 MiB and keeps ~15 MiB), so without this the process would stay at its parsing
//! peak for good. The same goes for evaluating and exporting a big table to many peers: the
//! daemon's loop trims once the policy worker is idle.

/// Releases free heap pages (glibc `malloc_trim`); a no-op with other C libraries.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own heap to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lets at most two malloc arenas serve all threads (glibc `M_ARENA_MAX`; a no-op with other C
/// libraries). glibc gives threads arenas of their own, up to eight per core, and each keeps its
/// own free pages: the config's parser threads and the policy worker left ~2 MiB in theirs at
/// 100k routes, against BIRD's whole footprint of 30 MiB. The daemon's threads seldom allocate
/// at once (one loop, one policy worker), so sharing costs it nothing measurable.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
