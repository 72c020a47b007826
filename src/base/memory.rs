//! What the process gives back to the system: `give_back` returns the memory the allocator
//! holds free. glibc's malloc keeps freed memory in its arenas (fragmented by long-lived
//! blocks among the freed ones, it is never returned on its own), so after a burst (many
//! WebSocket clients that left, a password hash's memory) the daemon would stay at its peak
//! RSS.

/// Returns the free memory of every malloc arena to the system (whole free pages, also those
/// between blocks still in use). Takes milliseconds on a large heap: call it off the async
/// workers (`spawn_blocking`), after a burst, not per allocation.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
