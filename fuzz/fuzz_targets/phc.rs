//! See `shared::fuzz::phc`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzz::phc(data));
