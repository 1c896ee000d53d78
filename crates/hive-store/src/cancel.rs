//! Reads their caller has abandoned stop early.
//!
//! A read of a large project takes seconds (ClickHouse, ADR 0013) and keeps
//! both ClickHouse and the node's readers busy. When the HTTP client that
//! asked for it goes away (a dashboard user changing a filter, a script's
//! timeout), nothing will use the answer. The server runs each request's
//! store work inside [`Cancel::scope`] and cancels the token when the
//! request is dropped. The stores check it where only reads pass (the
//! ClickHouse store's streamed statements, their rows and batches; the
//! SQLite store's read-only connections, every 100 000 steps of a
//! statement), never where work that writes could be cut in two, and end
//! the read with [`StoreError::Cancelled`]. The token is thread-local, so
//! the Store trait needs no new parameter; threads a read starts for
//! itself take the token along ([`current`]).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Result, StoreError};

/// A token a caller cancels when it no longer wants the answer.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

thread_local! {
    static CURRENT: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Run `f` with this token as the thread's (the previous one back
    /// afterwards, even if `f` panics).
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        scope(Some(self.clone()), f)
    }
}

/// Run `f` with `token` (or none) as the thread's.
pub fn scope<T>(token: Option<Cancel>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Cancel>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.replace(token));
    let _restore = Restore(previous);
    f()
}

/// The thread's token, for threads a read starts to take along.
pub fn current() -> Option<Cancel> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether the thread's token is cancelled.
pub fn is_cancelled() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(Cancel::is_cancelled))
}

/// [`StoreError::Cancelled`] once the thread's token is cancelled.
pub fn check() -> Result<()> {
    if is_cancelled() {
        Err(StoreError::Cancelled)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_sets_the_token_and_restores_the_previous_one() {
        assert!(check().is_ok());
        let outer = Cancel::new();
        let inner = Cancel::new();
        outer.scope(|| {
            inner.cancel();
            assert!(check().is_ok());
            inner.scope(|| assert!(matches!(check(), Err(StoreError::Cancelled))));
            assert!(check().is_ok());
            outer.cancel();
            assert!(is_cancelled());
            // Another thread has none until given one.
            let token = current();
            std::thread::spawn(move || {
                assert!(!is_cancelled());
                scope(token, || assert!(is_cancelled()));
            })
            .join()
            .unwrap();
        });
        assert!(check().is_ok());
        let caught = std::panic::catch_unwind(|| inner.scope(|| panic!("read failed")));
        assert!(caught.is_err());
        assert!(current().is_none(), "restored after a panic");
    }
}
