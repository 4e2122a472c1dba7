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
