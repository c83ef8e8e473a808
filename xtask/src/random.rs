use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;

use crate::error::{Context, Result};

/// `bytes` random bytes from the kernel's CSPRNG, hex-encoded: fit for secrets and unique names.
pub fn hex(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut urandom| urandom.read_exact(&mut buffer))
        .context(|| "cannot read /dev/urandom".to_owned())?;
    let mut out = String::with_capacity(bytes * 2);
    for byte in buffer {
        let _ = write!(out, "{byte:02x}");
    }
    Ok(out)
}
