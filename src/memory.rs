//! What the allocator keeps of the daemon's memory. The start builds a few large things once
//! and drops them (the OpenAPI description goes through utoipa's builders, about 2 MB at its
//! peak); glibc's malloc keeps freed memory inside its heap for later, so the idle daemon
//! carried 1.7 MB of private memory it no longer used (`docs/benchmarks.md`). Nothing here
//! decides what is allocated; it only hands back what is free.

/// Returns the free memory in the allocator's heaps to the kernel (glibc's `malloc_trim`,
/// which also releases free pages inside the heap, not only at its top). A few hundred
/// microseconds, once: call it when a burst of temporary allocations is over. Elsewhere
/// (musl's allocator returns memory by itself) it does nothing.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks and touches only its free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
