//! The machine as a resource shared by the tests of the one test binary (`tests/it`): most
//! tests share it, a few load it or measure under it and must have it to themselves.
//!
//! Every test opens with exactly one of:
//! - `let _machine = crate::common::machine::shared();` any number of shared tests run at once
//!   (as many as libtest's threads);
//! - `let _machine = crate::common::machine::alone(module_path!());` the heavy tests (they load
//!   the machine, or assert timings or memory that other tests would disturb): while one runs,
//!   only tests of the same module may run beside it, exactly as when each module was its own
//!   test binary (cargo ran the binaries one after the other).
//!
//! A heavy test that waits goes first: shared tests that arrive after it wait until it is done,
//! so a heavy test is never starved. The guard is released when it drops (the end of the test,
//! or its panic); taking it again on a thread that holds it returns a guard that does nothing,
//! so a helper taking it cannot deadlock the test that called it. `main.rs` checks that every
//! test takes it.

use std::cell::Cell;
use std::sync::{Condvar, Mutex, MutexGuard};

/// What a test asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Want {
    Shared,
    /// Alone but for the other tests of this module.
    Alone(&'static str),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Holders {
    Nobody,
    /// Shared tests, this many.
    Shared(usize),
    /// Heavy tests of one module, this many.
    Alone(&'static str, usize),
}

struct State {
    holders: Holders,
    /// Heavy tests waiting for their turn: shared tests wait behind them.
    heavy_waiting: usize,
}

/// The lock itself (one per process in the tests: `MACHINE`; its own instances in its tests).
pub struct Lock {
    state: Mutex<State>,
    changed: Condvar,
}

/// A hold on a `Lock`, released when dropped.
#[must_use = "the lock is released when the guard drops: bind it (`let _machine = ...`)"]
pub struct Held<'a> {
    lock: &'a Lock,
}

impl Lock {
    pub const fn new() -> Lock {
        Lock {
            state: Mutex::new(State {
                holders: Holders::Nobody,
                heavy_waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nobody panics while holding this mutex (only while holding a `Held`), but be safe.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `want` is granted.
    pub fn acquire(&self, want: Want) -> Held<'_> {
        let mut s = self.state();
        if let Want::Alone(_) = want {
            s.heavy_waiting += 1;
        }
        loop {
            let granted = match (want, s.holders) {
                (Want::Shared, Holders::Nobody) if s.heavy_waiting == 0 => Holders::Shared(1),
                (Want::Shared, Holders::Shared(n)) if s.heavy_waiting == 0 => {
                    Holders::Shared(n + 1)
                }
                (Want::Alone(module), Holders::Nobody) => Holders::Alone(module, 1),
                (Want::Alone(module), Holders::Alone(m, n)) if m == module => {
                    Holders::Alone(m, n + 1)
                }
                _ => {
                    s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
                    continue;
                }
            };
            s.holders = granted;
            break;
        }
        if let Want::Alone(_) = want {
            s.heavy_waiting -= 1;
        }
        Held { lock: self }
    }
}

impl Default for Lock {
    fn default() -> Lock {
        Lock::new()
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut s = self.lock.state();
        s.holders = match s.holders {
            Holders::Shared(1) | Holders::Alone(_, 1) | Holders::Nobody => Holders::Nobody,
            Holders::Shared(n) => Holders::Shared(n - 1),
            Holders::Alone(m, n) => Holders::Alone(m, n - 1),
        };
        drop(s);
        self.lock.changed.notify_all();
    }
}

/// The machine this process's tests share.
static MACHINE: Lock = Lock::new();

thread_local! {
    /// Whether this thread (a test) already holds the machine.
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// The machine, held by a test until dropped.
#[must_use = "the machine is released when the guard drops: bind it (`let _machine = ...`)"]
pub struct Machine {
    /// None for the guard of a nested call, which releases nothing.
    held: Option<Held<'static>>,
}

fn take(want: Want) -> Machine {
    if HOLDING.with(Cell::get) {
        return Machine { held: None };
    }
    let held = MACHINE.acquire(want);
    HOLDING.with(|h| h.set(true));
    Machine { held: Some(held) }
}

/// Shares the machine with the other shared tests (and nothing else).
pub fn shared() -> Machine {
    take(Want::Shared)
}

/// Has the machine alone, but for the other tests of `module` (pass `module_path!()`).
pub fn alone(module: &'static str) -> Machine {
    take(Want::Alone(module))
}

impl Drop for Machine {
    fn drop(&mut self) {
        if self.held.take().is_some() {
            HOLDING.with(|h| h.set(false));
        }
    }
}
