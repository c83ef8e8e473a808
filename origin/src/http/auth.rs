//! `POST /auth/token` (JSON or the OAuth2 password form), `/auth/login` (JSON), `/auth/refresh`.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use shared::api::{LoginRequest, RefreshRequest, TokenPair};
use shared::domain::TokenKind;
use shared::error::{ErrorBody, FieldError, LocPart, ValidationBody};
use shared::session::Ticket;

use super::error::ApiError;
use super::extract::{ClientInfo, JsonBody, MediaType, authorize, body_bytes, media_type, parse_json};
use super::limits::{self, Limit};
use crate::db::audit;
use crate::db::sessions::{self, NewSession, Rotation};
use crate::db::users::{self, User};
use crate::hasher::off_executor;
use crate::metrics::LoginFailure;
use crate::state::AppState;
use shared::refusal::Refusal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(token))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
}

/// The OAuth2 password grant's form, so the docs page's Authorize button works.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    #[schema(pattern = "^password$")]
    grant_type: Option<String>,
    username: String,
    #[schema(format = Password)]
    password: String,
    scope: Option<String>,
    client_id: Option<String>,
    #[schema(format = Password)]
    client_secret: Option<String>,
}

/// A token pair for a username and password, sent as JSON or as the OAuth2 password form.
#[utoipa::path(post, path = "/auth/token", tag = "auth",
    request_body(content(
        (LoginRequest = "application/json"),
        (TokenForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "A token pair", body = TokenPair),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Incorrect username or password", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this username", body = ErrorBody),
        (status = 415, description = "Neither JSON nor a form", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn token(State(state): State<AppState>, client: ClientInfo, request: Request) -> Result<Response, ApiError> {
    let login = login_from(request, &state).await?;
    let user = check_password(&state, login, &client).await?;
    let ticket = begin_session(&state, &user, &client).await?;
    Ok(issue(&state, &user, &ticket))
}

/// The credentials of `/auth/token`: JSON, or the OAuth2 password form.
pub(super) async fn login_from(request: Request, state: &AppState) -> Result<LoginRequest, ApiError> {
    let media = media_type(&request);
    let body = body_bytes(request, state).await?;
    match media {
        MediaType::Form => parse_form(&body),
        MediaType::Json => parse_json(&body),
        MediaType::Other => Err(ApiError::Refused(Refusal::UnsupportedMediaType)),
    }
}

fn parse_form(body: &[u8]) -> Result<LoginRequest, ApiError> {
    let form: TokenForm = serde_urlencoded::from_bytes(body).map_err(|err| {
        let message = err.to_string();
        let error = match message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
            Some(field) => FieldError::body(field, "missing", "Field required"),
            None => FieldError::new(vec![LocPart::from("body")], "value_error", "Invalid form body"),
        };
        ApiError::from(vec![error])
    })?;
    if form.grant_type.as_deref().is_some_and(|g| g != "password") {
        return Err(ApiError::from(vec![FieldError::body(
            "grant_type",
            "string_pattern_mismatch",
            "String should match pattern '^password$'",
        )]));
    }
    let _ = (form.scope, form.client_id, form.client_secret);
    Ok(LoginRequest { username: form.username, password: form.password })
}

/// A token pair for a username and password (JSON), as the seed's example shows.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "A token pair", body = TokenPair),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Incorrect username or password", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this username", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    JsonBody(login): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let user = check_password(&state, login, &client).await?;
    let ticket = begin_session(&state, &user, &client).await?;
    Ok(issue(&state, &user, &ticket))
}

/// The user whose password this is. An unknown user costs one hash, as a wrong password does,
/// and gets the same answer; a hash under a weaker policy is replaced.
pub(super) async fn check_password(
    state: &AppState,
    login: LoginRequest,
    client: &ClientInfo,
) -> Result<User, ApiError> {
    let credentials = login.parse()?;
    let tried = credentials.username.clone();
    let lock = limits::begin_login(state, &tried, client.ip).await?;
    let stored = users::credentials(&state.pool, &credentials.username).await?;
    // For the audit log, which only admins read: a client learns nothing of it.
    let known = stored.as_ref().map(|stored| stored.user.id);
    let hasher = state.hasher.clone();
    let password = credentials.password;
    let (user, stronger_hash) = off_executor(move || match stored {
        Some(stored) if hasher.verify(&password, &stored.password_hash) => {
            let stronger =
                hasher.needs_rehash(&stored.password_hash).then(|| (hasher.hash(&password), stored.password_hash));
            (Some(stored.user), stronger)
        }
        Some(_) => (None, None),
        None => {
            hasher.verify_nobody(&password);
            (None, None)
        }
    })
    .await;
    let failed = |user_id, detail: &str| audit::Event {
        username: Some(tried.clone()),
        client_ip: client.ip,
        detail: detail.to_owned(),
        ..audit::Event::new(audit::Kind::LoginFailed, user_id)
    };
    let Some(user) = user else {
        state.metrics.login_failed(LoginFailure::BadCredentials);
        state.audit(failed(known, "bad credentials")).await;
        return Err(ApiError::Refused(Refusal::BadCredentials));
    };
    limits::login_succeeded(state, &lock, client.ip).await?;
    if !user.active {
        state.metrics.login_failed(LoginFailure::Inactive);
        state.audit(failed(Some(user.id), "inactive user")).await;
        return Err(ApiError::Refused(Refusal::InactiveUser));
    }
    if let Some((stronger, verified)) = stronger_hash {
        users::rehash(&state.pool, user.id, &verified, &stronger).await?;
    }
    Ok(user)
}

/// The next pair of the session for its live refresh token, which is spent. Within the grace
/// window (`REFRESH_REUSE_GRACE_SECS`) the token just spent gets that same pair again; after it, or
/// for an older token, the whole session ends (reuse: a stolen token).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Invalid, spent or revoked refresh token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this username", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    let (user, ticket) = rotate_session(&state, &body.refresh_token, &client).await?;
    Ok(issue(&state, &user, &ticket))
}

/// Starts the session a successful login opens: its first ticket.
pub(super) async fn begin_session(state: &AppState, user: &User, client: &ClientInfo) -> Result<Ticket, ApiError> {
    let session = NewSession {
        user_id: user.id,
        now: state.clock.now(),
        ttl_secs: state.tokens.settings().refresh_ttl_secs,
        user_agent: &client.user_agent,
        client_ip: client.ip,
    };
    let ticket = sessions::start(&state.pool, session).await?;
    let event = audit::Event {
        session_id: Some(ticket.sid.clone()),
        client_ip: client.ip,
        ..audit::Event::new(audit::Kind::LoginSucceeded, Some(user.id))
    };
    state.audit(event).await;
    Ok(ticket)
}

/// Spends a refresh token: the user and the ticket of the pair to sign (see
/// [`shared::session::judge`]). A spent token presented again ends its session.
pub(super) async fn rotate_session(
    state: &AppState,
    refresh_token: &str,
    client: &ClientInfo,
) -> Result<(User, Ticket), ApiError> {
    limits::rate(state, Limit::Refresh, client.ip).await?;
    let (user, verified) = authorize(state, refresh_token, TokenKind::Refresh).await?;
    let presented = verified.generation().ok_or(ApiError::Refused(Refusal::InvalidToken))?;
    let rotation = sessions::rotate(
        &state.pool,
        &verified.sid,
        user.id,
        presented,
        state.clock.now(),
        state.refresh_grace_secs,
        state.tokens.settings().refresh_ttl_secs,
    )
    .await?;
    match rotation {
        Rotation::Issued(ticket) => Ok((user, ticket)),
        Rotation::Reused => {
            tracing::warn!(user_id = user.id.0, sid = %verified.sid, presented, "refresh token reuse: session ended");
            state.metrics.refresh_reuse_detected();
            let event = audit::Event {
                session_id: Some(verified.sid),
                client_ip: client.ip,
                detail: format!("generation {presented} presented again"),
                ..audit::Event::new(audit::Kind::RefreshReuseDetected, Some(user.id))
            };
            state.audit(event).await;
            Err(ApiError::Refused(Refusal::InvalidToken))
        }
        Rotation::Gone => Err(ApiError::Refused(Refusal::InvalidToken)),
    }
}

fn issue(state: &AppState, user: &User, ticket: &Ticket) -> Response {
    token_response(state.tokens.issue_pair(&user.subject(), ticket))
}

/// Tokens must never be cached (RFC 6749 5.1).
fn token_response(pair: TokenPair) -> Response {
    let mut response = Json(pair).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
