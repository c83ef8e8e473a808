//! The edge: verifies access tokens statelessly and mints token pairs close to the client, and
//! passes everything that needs the database to the origin.
//!
//! The request handling ([`Edge::handle`]) is written once over plain `http` types, with the
//! origin behind [`OriginClient`]; the Cloudflare (`cloudflare.rs`, wasm32-unknown-unknown) and
//! Spin / WASI HTTP (`spin.rs`, wasm32-wasip2) adapters only convert, call and convert back.
//! Every token rule comes from `shared`.

mod config;
mod cors;
mod handler;
mod origin;
mod respond;

pub use config::{ConfigError, EdgeConfig};
pub use handler::{BodyError, Edge, LazyBody, PASSED_BACK, REQUEST_HEADERS};
pub use origin::{FailureContext, OriginClient, OriginError, RecordingOrigin};

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod cloudflare;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod spin;
