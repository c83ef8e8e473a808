//! The fuzz targets of `fuzz/` (cargo-fuzz, libFuzzer): `cargo xtask fuzz [TARGET] [SECONDS]` by
//! hand, and a bounded run of each in `cargo xtask test`. cargo-fuzz is installed once into the
//! tools cache; its sanitizer flags are nightly-only, which `RUSTC_BOOTSTRAP=1` opens on the
//! machine's stable toolchain. A crash fails the step and names the input to keep as a
//! regression (`fuzz/regressions/README.md`).

use std::process::Command;

use crate::edge_tools::{cargo_install, tools_cache};
use crate::error::{Error, Result};
use crate::process;
use crate::summary::Outcome;
use crate::workspace::root;

const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Token parsing and verification (every `kid` path), the same after a genuine signature, and
/// PHC parsing.
pub const TARGETS: [&str; 3] = ["token", "signed", "phc"];
/// How long `cargo xtask test` fuzzes each target.
pub const TEST_SECONDS: u64 = 60;

/// Fuzzes each of `targets` for `seconds`, starting from its seeds and what earlier runs found.
pub fn run(targets: &[&str], seconds: u64) -> Result<Outcome> {
    let install = tools_cache()?.join(format!("cargo-fuzz-{CARGO_FUZZ_VERSION}"));
    cargo_install(&install, "cargo-fuzz", CARGO_FUZZ_VERSION, "cargo-fuzz", true, "about 2 minutes")?;
    let mut runs = Vec::new();
    for target in targets {
        if !TARGETS.contains(target) {
            return Err(Error::failed(format!("no fuzz target {target}; the targets are {}", TARGETS.join(", "))));
        }
        let corpus = root().join("fuzz").join("corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let mut command = Command::new(install.join("bin").join("cargo-fuzz"));
        command
            .args(["fuzz", "run", target])
            .arg(&corpus)
            .arg(root().join("fuzz").join("seeds").join(target))
            .args(["--", &format!("-max_total_time={seconds}"), "-timeout=10", "-rss_limit_mb=2048"])
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(root());
        process::run(&mut command).map_err(|err| {
            Error::failed(format!(
                "{err}\nfuzz target {target} crashed: move the input it names from fuzz/artifacts/{target}/ into \
                 fuzz/regressions/{target}/ with the fix"
            ))
        })?;
        runs.push(format!("{target} {seconds} s"));
    }
    Ok(Outcome::Passed(Some(format!("no crash: {}", runs.join(", ")))))
}
