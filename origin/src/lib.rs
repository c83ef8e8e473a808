//! The origin service: the seed's API on PostgreSQL, complete on its own. `main.rs` is a thin
//! CLI over [`startup::Application`], which the integration tests build too.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod hasher;
pub mod http;
pub mod metrics;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
