//! The log of an outage: every 503 the database's absence causes counts in [`OutageLog`], which
//! logs the first at once and the rest as a summary a window.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::error::Unavailable;
use crate::state::AppState;
use crate::telemetry::Chain;

/// Middleware: hands each answer the database's absence caused to the outage log.
pub async fn summarize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(Unavailable(cause)) = response.extensions().get::<Unavailable>()
        && let Some(note) = state.outage.failed(state.clock.now(), || Chain(&**cause).to_string())
    {
        note.log();
    }
    response
}
