//! The edge as a caller: whether a request comes from it (the service credential of
//! [`shared::contract`]), and whose address the request is from. The internal API answers 404 to
//! anyone else, as for a path that does not exist, and the client address they claim is ignored.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::contract::http_header::{CLIENT_IP, SERVICE_TOKEN};
use shared::contract::is_internal;
use shared::refusal::Refusal;

use super::error::ApiError;
use crate::state::AppState;

/// The address a request comes from: the edge's word for it when the edge called, else the peer.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// Middleware on every request: decides whether the caller is the edge, answers 404 in the
/// internal API when it is not, and records the client's address as [`ClientIp`].
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
