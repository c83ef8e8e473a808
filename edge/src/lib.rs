//! The edge: verifies access tokens statelessly and mints token pairs close to the client, and
//! passes everything that needs the database to the origin.
//!
//! The request handling ([`Edge::handle`]) is written once over plain `http` types, with the
//! origin behind [`OriginClient`]: routing, the token gate, the body limit, which headers cross
//! and whose address is trusted, the fallback answers and what is logged. The Cloudflare
//! (`cloudflare/`, wasm32-unknown-unknown) and Spin / WASI HTTP (`spin/`, wasm32-wasip2) adapters
//! only convert, call and convert back. Every token rule and the contract with the origin come
//! from `shared`.

mod body;
mod config;
mod cors;
mod handler;
mod headers;
mod origin;
mod respond;

pub use body::{BodyError, LazyBody};
pub use config::{ConfigError, EdgeConfig, HostAddr};
pub use handler::Edge;
pub use headers::{PASSED_BACK, REQUEST_HEADERS};
pub use origin::{OriginClient, OriginError, RecordingOrigin};
pub use respond::{malformed, misconfigured};

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod cloudflare;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod spin;
