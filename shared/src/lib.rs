//! Every rule about tokens and passwords, the API's wire types and its error body, written once
//! for both the origin (native) and the edge (wasm32).
//!
//! The core is `no_std` + `alloc`: domain types, password policy, PBKDF2 PHC hashing with a
//! caller-supplied salt, and the FastAPI-shaped error body. Features add the rest:
//! `jwt` (token issue and verify, jwt-simple in pure Rust), `hashing` (random salts and the
//! commonly-used-password blocklist, the origin's side), `openapi` (utoipa schemas) and `http`
//! (refusals and token answers as `http` responses, for the two sides that speak `http`).
#![no_std]

extern crate alloc;
// utoipa's derives expand to `format!` and `Vec` unqualified.
#[cfg(feature = "std")]
#[macro_use]
extern crate std;

pub mod api;
pub mod assurance;
pub mod contract;
pub mod domain;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
#[cfg(feature = "jwt")]
pub mod keys;
pub mod mfa;
pub mod password;
pub mod policy;
pub mod refusal;
pub mod secret;
pub mod session;
#[cfg(feature = "jwt")]
pub mod token;

#[cfg(feature = "hashing")]
mod blocklist;
