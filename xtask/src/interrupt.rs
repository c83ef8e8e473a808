//! Ctrl-C and SIGTERM only raise a flag: xtask must outlive them long enough to stop its
//! children in order and to stop and delete its private PostgreSQL cluster.
//!
//! A second signal does not cut that short: `timeout` and process managers often deliver the
//! same signal twice (to the process and to its group), and every wait in the cleanup is bounded.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);

pub fn install() -> Result<()> {
    ctrlc::set_handler(|| {
        if !REQUESTED.swap(true, Ordering::SeqCst) {
            eprintln!("xtask: interrupted, stopping");
        }
    })
    .map_err(|error| Error::failed(format!("cannot install the Ctrl-C handler: {error}")))
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// For loops that poll: turns a pending interrupt into the error that unwinds to `main`.
pub fn check() -> Result<()> {
    if requested() { Err(Error::Interrupted) } else { Ok(()) }
}
