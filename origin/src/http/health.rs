//! `GET /`: the health check, 503 while the database cannot be reached.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::Health;
use shared::error::ErrorBody;

use super::error::ApiError;
use crate::db;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(health))
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
