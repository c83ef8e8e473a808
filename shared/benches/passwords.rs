//! PBKDF2-HMAC-SHA256 at the production cost (600,000 iterations) through `shared::password`
//! (the `pbkdf2` + `sha2` crates) beside `ring`'s PBKDF2, on the same password and salt.
//!
//!     cargo bench -p shared --features jwt,hashing --bench passwords
//!     bench/criterion-ratios.sh            # the ratios of the run, from target/criterion
//!
//! One hash here is what one login costs the origin, so `nproc / time` is the most logins per
//! second the machine allows (bench/load.sh compares its measured rate with that bound).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark: fixed inputs, and a failure stops it with its reason"
)]

use core::hint::black_box;
use core::num::NonZeroU32;
use core::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use sha2::Sha256;
use shared::password::{self, HashPolicy, SALT_LEN};
use shared::policy::Password;

const PASSWORD: &str = "velvet-otter-signs-14";
const SALT: [u8; SALT_LEN] = *b"0123456789abcdef";
const ITERATIONS: u32 = HashPolicy::DEFAULT_ITERATIONS;

fn ring_derive(out: &mut [u8; 32]) {
    let iterations = NonZeroU32::new(ITERATIONS).expect("a positive iteration count");
    ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, iterations, &SALT, PASSWORD.as_bytes(), out);
}

fn pbkdf2_600k(c: &mut Criterion) {
    println!("CPU SHA extensions (sha_ni): {}", if sha_extensions() { "yes" } else { "no" });
    let password = Password::candidate(PASSWORD).expect("a valid candidate password");
    let policy = HashPolicy::default();
    assert_eq!(policy.iterations(), ITERATIONS);
    let phc = password::hash_with_salt(&password, &SALT, &policy);

    // The same derived key from every implementation: the same work.
    let mut from_ring = [0u8; 32];
    ring_derive(&mut from_ring);
    let mut from_crate = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(PASSWORD.as_bytes(), &SALT, ITERATIONS, &mut from_crate);
    assert_eq!(from_ring, from_crate);
    assert!(phc.ends_with(&STANDARD_NO_PAD.encode(from_ring)), "{phc}");
    assert!(password::verify(&password, &phc));

    let mut group = c.benchmark_group("pbkdf2_sha256_600k");
    // About 0.1 s a hash: ten flat samples of a few hashes each keep the run near ten seconds.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    group.bench_function("shared_hash_with_salt", |b| {
        b.iter(|| password::hash_with_salt(black_box(&password), black_box(&SALT), &policy));
    });
    group.bench_function("shared_verify", |b| b.iter(|| password::verify(black_box(&password), black_box(&phc))));
    group.bench_function("pbkdf2_crate_raw", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(black_box(PASSWORD.as_bytes()), black_box(&SALT), ITERATIONS, &mut out);
            out
        });
    });
    group.bench_function("ring_derive", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            ring_derive(black_box(&mut out));
            out
        });
    });
    group.bench_function("ring_verify", |b| {
        let iterations = NonZeroU32::new(ITERATIONS).expect("a positive iteration count");
        b.iter(|| {
            ring::pbkdf2::verify(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                black_box(&SALT),
                black_box(PASSWORD.as_bytes()),
                &from_ring,
            )
            .is_ok()
        });
    });
    group.finish();
}

/// SHA-256 itself, to tell the compression function from each library's per-call overhead: one
/// PBKDF2 iteration hashes two 64-byte blocks (HMAC's inner and outer hash of a 32-byte input).
fn sha256(c: &mut Criterion) {
    use sha2::Digest as _;
    let small = [0x5au8; 32];
    let large = vec![0x5au8; 16 * 1024];
    let mut group = c.benchmark_group("sha256");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    group.bench_function("sha2_32_bytes", |b| b.iter(|| Sha256::digest(black_box(&small))));
    group
        .bench_function("ring_32_bytes", |b| b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&small))));
    group.bench_function("sha2_16_kib", |b| b.iter(|| Sha256::digest(black_box(&large))));
    group.bench_function("ring_16_kib", |b| b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&large))));
    group.finish();
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn sha_extensions() -> bool {
    std::arch::is_x86_feature_detected!("sha")
}

#[cfg(target_arch = "aarch64")]
fn sha_extensions() -> bool {
    std::arch::is_aarch64_feature_detected!("sha2")
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
fn sha_extensions() -> bool {
    false
}

criterion_group!(benches, pbkdf2_600k, sha256);
criterion_main!(benches);
