//! Replays what the fuzzers must keep surviving: the seeds they start from (`fuzz/seeds/`) and
//! every crash they ever found (`fuzz/regressions/`, one file per input, one folder per target).
//! A new crash input goes into `fuzz/regressions/<target>/` with the fix.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "a std program beside the no_std crate")]
#![allow(clippy::expect_used, reason = "a test: its helpers fail it with their reason")]

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for folder in [root.join("seeds").join(target), root.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable folder").path();
            check(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn the_token_inputs_are_survived() {
    assert!(replay("token", shared::fuzz::token) > 0, "the token seeds are missing");
}

#[test]
fn the_signed_inputs_are_survived() {
    assert!(replay("signed", shared::fuzz::signed) > 0, "the signed seeds are missing");
}

#[test]
fn the_phc_inputs_are_survived() {
    assert!(replay("phc", shared::fuzz::phc) > 0, "the phc seeds are missing");
}
