//! The origin's integration tests, over HTTP against a real PostgreSQL (`DATABASE_URL`; the
//! test command `cargo xtask test` starts a private cluster when it is unset). One binary, so
//! the crate is linked once; each test gets a fresh database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on an unexpected error; its helpers too"
)]

mod admin;
mod admin_ops;
mod auth;
mod helpers;
mod internal;
mod keys;
mod lifecycle;
mod maildev;
mod metrics;
mod mfa;
mod outage;
mod robustness;
mod sessions;
mod throttle;
mod tiers;
mod users;
