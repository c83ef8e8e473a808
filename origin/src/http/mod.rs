//! The HTTP API: a module per resource, each with its own router, merged here once with the
//! layers every request goes through.

mod admin;
mod auth;
mod docs;
pub mod edge;
pub mod error;
pub mod extract;
mod health;
pub mod internal;
mod keys;
mod lifecycle;
pub mod metrics;
mod mfa;
mod pages;
mod responses;
mod sessions;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::OnResponse;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing::Span;

pub use docs::ApiDoc;
use error::{ApiError, Unavailable};

use crate::state::AppState;
use crate::telemetry::Chain;

use shared::api::MAX_BODY_BYTES;
use shared::contract::http_header::REQUEST_ID;
use shared::refusal::Refusal;

pub fn router(state: AppState) -> Router {
    let (outage, clock) = (state.outage.clone(), state.clock.clone());
    Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(users::router())
        .merge(lifecycle::router())
        .merge(mfa::router())
        .merge(pages::router())
        .merge(sessions::router())
        .merge(admin::router())
        .merge(keys::router())
        .merge(docs::router())
        .merge(internal::router())
        .fallback(|| async { ApiError::Refused(Refusal::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::Refused(Refusal::MethodNotAllowed) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal(Box::new(Panicked)).into_response()))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                })
                // One line per request at info, with its id: what reached the origin is in its log;
                // but a 503 for the database's absence counts in the outage's log instead (a line
                // at its start, a summary a window), and a failure is logged with its cause where
                // it becomes an answer (`error`).
                .on_response(move |response: &Response, latency: Duration, span: &Span| {
                    match response.extensions().get::<Unavailable>() {
                        None => DefaultOnResponse::new().level(Level::INFO).on_response(response, latency, span),
                        Some(Unavailable(cause)) => {
                            if let Some(note) = outage.failed(clock.now(), || Chain(&**cause).to_string()) {
                                note.log();
                            }
                        }
                    }
                })
                .on_failure(()),
        )
        // Outermost, so the span above already sees the id: the client's, or a new one.
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// A handler panicked (the panic hook has printed where): a 500, logged as every other.
#[derive(Debug, thiserror::Error)]
#[error("handler panicked")]
struct Panicked;
