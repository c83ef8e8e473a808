//! The origin service: the seed's API on PostgreSQL, complete on its own. `main.rs` is a thin
//! CLI over [`startup::Application`], which the integration tests build too.
//!
//! A request goes down three layers and never up: [`http`] extracts it, calls one function of
//! [`auth`] and renders the answer (errors become refusals in `http::error`, once); [`auth`]
//! decides (passwords, sessions, throttling, admin rules) and answers a value or an
//! [`auth::AuthError`]; [`db`] holds the SQL, a module a table. [`mail`] sends what [`auth`] queues,
//! in a task of its own.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod hasher;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod outage_log;
pub mod probe;
pub mod sealing;
pub mod slot_lines;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
