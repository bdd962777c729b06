//! A mutex without poisoning, for state a node shares between its tasks.
//!
//! `std::sync::Mutex` marks itself poisoned when a thread panics while holding it, so that
//! later users notice the half-done change. In a node that information has nowhere to go: a
//! panic ends the whole process (let it crash, see [`crate::run`]), so a living node never
//! meets a poisoned lock, and code that must still handle one (a client library used in tests,
//! or a supervised child, where a panic ends only one task: see [`crate::crash`]) keeps its
//! state consistent by changing it in single statements. This `Mutex` therefore hands out the
//! guard either way, and callers write `state.lock()` instead of
//! `state.lock().unwrap_or_else(|e| e.into_inner())`.
//!
//! Like any blocking mutex in async code: hold it for a few statements, never across an
//! `.await`.

use std::fmt;

/// The standard library's guard: dereference it to reach the value; dropping it unlocks.
pub use std::sync::MutexGuard;

/// A `std::sync::Mutex` whose [`lock`](Mutex::lock) never fails.
#[derive(Default)]
pub struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }

    pub fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock and returns its guard, also after a panic in another holder.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // try_lock, as std does: formatting while holding the lock must not deadlock.
        match self.0.try_lock() {
            Ok(value) => f.debug_tuple("Mutex").field(&&*value).finish(),
            Err(std::sync::TryLockError::Poisoned(e)) => {
                f.debug_tuple("Mutex").field(&&*e.into_inner()).finish()
            }
            Err(std::sync::TryLockError::WouldBlock) => f.write_str("Mutex(<locked>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_panic_while_holding_the_lock_does_not_lock_out_the_others() {
        let counter = Arc::new(Mutex::new(0));
        let held = counter.clone();
        let panicked = std::thread::spawn(move || {
            let mut n = held.lock();
            *n += 1;
            panic!("a bug while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        *counter.lock() += 1;
        assert_eq!(*counter.lock(), 2);
    }
}
