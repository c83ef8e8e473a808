//! The internal API, at [`GrantRoute::internal_path`], for the edge only. The edge checks tokens and signs
//! them; the origin checks what only the database knows (passwords, users, sessions) and answers
//! with a [`Grant`]. Callers without the service credential get 404, as for a path that does not
//! exist, and the client address they claim is ignored.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use shared::api::{LoginRequest, RefreshRequest};
use shared::contract::http_header::{CLIENT_IP, SERVICE_TOKEN};
use shared::contract::{Grant, GrantRoute, is_internal};
use shared::session::Ticket;

use super::auth::{begin_session, check_password, login_from, rotate_session};
use super::error::ApiError;
use super::extract::{ClientInfo, JsonBody};
use crate::db::users::User;
use crate::state::AppState;
use shared::refusal::Refusal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(GrantRoute::Token.internal_path(), post(token))
        .route(GrantRoute::Login.internal_path(), post(login))
        .route(GrantRoute::Refresh.internal_path(), post(refresh))
}

/// The address a request comes from: the edge's word for it when the edge called, else the peer.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// Runs on every request: decides whether the caller is the edge, answers 404 in the internal API
/// when it is not, and records the client's address.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let from_edge = match (&state.service_tokens, request.headers().get(&SERVICE_TOKEN)) {
        (Some(tokens), Some(presented)) => tokens.accepts(presented.as_bytes()),
        _ => false,
    };
    if !from_edge && is_internal(request.uri().path()) {
        return ApiError::Refused(Refusal::NotFound).into_response();
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let claimed = request.headers().get(&CLIENT_IP).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    // Behind an edge the peer is the edge itself: keying limits on it would let one client lock
    // everybody out. An edge that reports no address (a host that gives it none) gets no
    // per-address limits; the per-username ones still hold.
    let client = if from_edge { claimed } else { peer };
    request.extensions_mut().insert(ClientIp(client));
    next.run(request).await
}

fn grant(user: &User, ticket: Ticket) -> Json<Grant> {
    Json(Grant {
        user_id: user.id.0,
        username: user.username.clone(),
        role: user.role,
        ver: user.token_version,
        sid: ticket.sid,
        generation: ticket.generation,
        issued_at: ticket.issued_at,
    })
}

/// `/auth/token`'s checks, answering with whom to issue a pair for.
async fn token(State(state): State<AppState>, client: ClientInfo, request: Request) -> Result<Json<Grant>, ApiError> {
    let login = login_from(request, &state).await?;
    let user = check_password(&state, login, &client).await?;
    let ticket = begin_session(&state, &user, &client).await?;
    Ok(grant(&user, ticket))
}

/// `/auth/login`'s checks (JSON only, as the public route).
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    JsonBody(login): JsonBody<LoginRequest>,
) -> Result<Json<Grant>, ApiError> {
    let user = check_password(&state, login, &client).await?;
    let ticket = begin_session(&state, &user, &client).await?;
    Ok(grant(&user, ticket))
}

/// `/auth/refresh`'s checks and rotation, answering with the pair to sign.
async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Json<Grant>, ApiError> {
    let (user, ticket) = rotate_session(&state, &body.refresh_token, &client).await?;
    Ok(grant(&user, ticket))
}
