//! Containment of redb panics on damaged files.
//!
//! redb trusts the pages of a file it opened without an integrity check, and may panic when a
//! damaged page is reached (its own documentation says so of `Builder::open`). A damaged store
//! must give an error naming the file, never bring the process down, so every call into redb runs
//! inside [`contain`], which turns such a panic into [`Error::Corrupt`].
//!
//! While a contained call runs, the process-wide panic hook stays quiet for that thread and keeps
//! the message for the error instead; any other panic goes to the hook that was installed before,
//! unchanged. This needs `panic = "unwind"` (the default); with `panic = "abort"` a damaged file
//! still aborts the process.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::Error;

thread_local! {
    /// Set while this thread runs a contained call.
    static CONTAINING: Cell<bool> = const { Cell::new(false) };
    /// The message of the last panic the hook swallowed on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

fn install_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CONTAINING.with(Cell::get) {
                let msg = info.to_string().replace('\n', ": ");
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it becomes `Error::Corrupt` about `record` (typically the database
/// file), with the panic's message and location as the reason.
pub(crate) fn contain<T>(
    record: &dyn Fn() -> String,
    f: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    install_hook();
    let outer = CONTAINING.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(outer));
    match result {
        Ok(r) => r,
        Err(payload) => {
            let msg = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Error::Corrupt {
                record: record(),
                reason: format!("the database library failed on damaged data ({msg})"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_corrupt_error_naming_the_record() {
        let err = contain(&|| "file /x".to_owned(), || -> Result<(), Error> {
            panic!("bad page 7")
        })
        .unwrap_err();
        match err {
            Error::Corrupt { record, reason } => {
                assert_eq!(record, "file /x");
                assert!(reason.contains("bad page 7"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // Containment is off again afterwards.
        assert!(!CONTAINING.with(Cell::get));
    }

    #[test]
    fn results_pass_through() {
        assert_eq!(contain(&String::new, || Ok(5)).unwrap(), 5);
    }
}
