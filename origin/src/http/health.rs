//! Health: `GET /` (the seed's check) and `GET /health/ready`, both 503 while the database cannot
//! be reached; `GET /health/live`, 200 while the process serves at all (an orchestrator restarts
//! on liveness and withholds traffic on readiness, so only readiness may depend on the database).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::Health;
use shared::error::ErrorBody;

use super::error::ApiError;
use crate::db;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(health)).route("/health/ready", get(ready)).route("/health/live", get(live))
}

#[utoipa::path(get, path = "/", tag = "health",
    responses(
        (status = 200, description = "Up, database reachable", body = Health),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    db::ping(&state.pool).await?;
    Ok(Json(Health { status: "ok".into() }))
}

#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready: database reachable", body = Health),
        (status = 503, description = "Not ready: database unavailable", body = ErrorBody),
    ))]
async fn ready(state: State<AppState>) -> Result<Json<Health>, ApiError> {
    health(state).await
}

#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "The process serves requests", body = Health)))]
async fn live() -> Json<Health> {
    Json(Health { status: "ok".into() })
}
