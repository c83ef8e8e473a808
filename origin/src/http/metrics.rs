//! Counting every request by its route, and the `/metrics` listener's router.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::UNMATCHED;
use crate::state::AppState;

/// Middleware: one observation per answered request, labelled with the matched route's template.
#[allow(
    clippy::disallowed_methods,
    reason = "a latency is measured on the monotonic clock, never decided by it: no test waits on it"
)]
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_owned();
    let response = next.run(request).await;
    state.metrics.observe_request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// `GET /metrics` in Prometheus' text format, for the listener on `METRICS_ADDR`.
pub fn router(state: AppState) -> Router {
    Router::new().route("/metrics", get(render)).with_state(state)
}

async fn render(State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render(&state.pool))
}
