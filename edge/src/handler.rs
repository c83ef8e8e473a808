//! The edge's request handling, the same on every host.
//!
//! Routes: `GET /` (the edge's health with the origin's), `POST /auth/token|login` (the origin
//! checks the password, the edge signs), `POST /auth/refresh` (the edge verifies the refresh token
//! first; a bad one never travels; the origin rotates the session), the `/users` routes and
//! `/auth/logout[-all]` (the edge verifies the access token, and the admin role under
//! `/users/admin`, then forwards). Every other request goes to the origin untouched, so unknown
//! paths, methods, `/docs` and `/openapi.json` answer exactly as the origin does.

use http::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use shared::api::MAX_BODY_BYTES;
use shared::contract::Grant;
use shared::domain::{Role, TokenKind, UserId};
use shared::session::Ticket;
use shared::token::{Subject, TokenError, TokenService, VerifiedToken};

use crate::config::EdgeConfig;
use crate::origin::{OriginClient, OriginError};
use crate::respond;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const SERVICE_TOKEN: HeaderName = HeaderName::from_static("x-edge-token");
const CLIENT_IP: HeaderName = HeaderName::from_static("x-edge-client-ip");

/// The request headers the edge reads or forwards: adapters convert only these, so the glue
/// between host and wasm stays small.
pub const REQUEST_HEADERS: [&str; 6] =
    ["authorization", "content-type", "user-agent", "origin", "x-request-id", "access-control-request-method"];
/// The response headers of the origin that reach the client.
pub const PASSED_BACK: [&str; 7] =
    ["content-type", "www-authenticate", "retry-after", "cache-control", "pragma", "location", "allow"];

/// A request body that is read only when the edge needs it: a rejected token costs no copy.
#[allow(async_fn_in_trait)]
pub trait LazyBody {
    /// The body, unless it exceeds `limit` bytes or cannot be read.
    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError>;
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (413).
    TooLarge,
    /// The client's stream broke off (400).
    Unreadable,
}

impl LazyBody for Vec<u8> {
    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        if self.len() > limit { Err(BodyError::TooLarge) } else { Ok(self) }
    }
}

/// The edge: its configuration and its way to the origin.
pub struct Edge<O> {
    config: EdgeConfig,
    origin: O,
}

/// What a handler knows of the request besides its body.
struct Context<'a> {
    headers: &'a HeaderMap,
    path_and_query: &'a str,
    request_id: HeaderValue,
    client_ip: Option<&'a str>,
    now: u64,
}

impl<O: OriginClient> Edge<O> {
    pub fn new(config: EdgeConfig, origin: O) -> Self {
        Self { config, origin }
    }

    /// The origin client back, for tests that inspect what reached it.
    pub fn into_origin(self) -> O {
        self.origin
    }

    /// Answers one request. `client_ip` is the address the host saw; `now` is seconds since the
    /// epoch, from the host's clock.
    pub async fn handle<B: LazyBody>(
        &self,
        request: Request<B>,
        client_ip: Option<&str>,
        now: u64,
    ) -> Response<Vec<u8>> {
        let (parts, body) = request.into_parts();
        let request_id =
            parts.headers.get(&REQUEST_ID).filter(|id| is_safe_request_id(id)).cloned().unwrap_or_else(|| {
                HeaderValue::from_str(&TokenService::random_id()).expect("hex is a valid header value")
            });
        let browser_origin = parts.headers.get(ORIGIN);
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let context =
            Context { headers: &parts.headers, path_and_query, request_id: request_id.clone(), client_ip, now };

        let mut response = if parts.method == Method::OPTIONS
            && parts.headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            let mut preflight = Response::new(Vec::new());
            *preflight.status_mut() = StatusCode::NO_CONTENT;
            self.config.cors.preflight(browser_origin, preflight.headers_mut());
            preflight
        } else {
            let mut answer = self.route(&parts.method, parts.uri.path(), &context, body).await;
            self.config.cors.decorate(browser_origin, answer.headers_mut());
            answer
        };
        response.headers_mut().insert(REQUEST_ID, request_id);
        response
    }

    async fn route<B: LazyBody>(&self, method: &Method, path: &str, cx: &Context<'_>, body: B) -> Response<Vec<u8>> {
        // The edge's credential rides on every forwarded call, and the origin matches paths byte
        // for byte: a path that something between the two could rewrite (`//`, dot segments,
        // encoded separators) into a gated or internal route is refused here, as the origin would.
        if !is_canonical(path) {
            return respond::error(StatusCode::NOT_FOUND, shared::error::detail::NOT_FOUND);
        }
        // Gated by every method the origin routes there (HEAD runs the GET handler); other methods
        // reach no handler, so the origin's 405 needs no token.
        match (method.as_str(), path) {
            ("GET", "/") => self.health(cx).await,
            // The edge holds the keys: it publishes their public halves itself.
            ("GET", shared::keys::JWKS_PATH) => respond::jwks(self.config.tokens.jwks()),
            ("POST", "/auth/token" | "/auth/login") => self.login(path, cx, body).await,
            ("POST", "/auth/refresh") => self.refresh(cx, body).await,
            ("GET" | "HEAD" | "PATCH" | "DELETE", "/users") => self.gated(method, false, cx, body).await,
            ("POST", "/auth/logout" | "/auth/logout-all") => self.gated(method, false, cx, body).await,
            ("GET" | "HEAD", "/users/sessions") => self.gated(method, false, cx, body).await,
            ("GET" | "HEAD", "/users/admin") => self.gated(method, true, cx, body).await,
            (method_name, admin) if is_admin_route(method_name, admin) => self.gated(method, true, cx, body).await,
            // The edge's own credential rides on every forwarded call: the internal API must not
            // be reachable through it. Answered as the origin answers strangers.
            (_, internal) if internal.starts_with("/internal/") || internal == "/internal" => {
                respond::error(StatusCode::NOT_FOUND, shared::error::detail::NOT_FOUND)
            }
            _ => self.pass(method, cx, body).await,
        }
    }

    /// The edge is up; the origin's health says whether the service is.
    async fn health(&self, cx: &Context<'_>) -> Response<Vec<u8>> {
        match self.ask_origin(&Method::GET, "/", cx, Vec::new()).await {
            Ok(answer) if answer.status() == StatusCode::OK => {
                respond::json(StatusCode::OK, &serde_json::json!({"status": "ok", "origin": "ok"}))
            }
            Ok(answer) => passed_back(answer),
            Err(reason) => unanswered(&reason),
        }
    }

    /// The origin checks the password (the hash never leaves it); the edge signs the pair.
    async fn login<B: LazyBody>(&self, path: &str, cx: &Context<'_>, body: B) -> Response<Vec<u8>> {
        let body = match body.read(MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(err) => return respond::body_error(err),
        };
        self.grant(&format!("/internal/v1{path}"), cx, body).await
    }

    /// A refresh token is verified here first: a forged, expired or wrong-kind one is answered
    /// without travelling. The origin then checks what only it knows (user, version, session).
    async fn refresh<B: LazyBody>(&self, cx: &Context<'_>, body: B) -> Response<Vec<u8>> {
        let body = match body.read(MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(err) => return respond::body_error(err),
        };
        // Read as the origin reads it (a JSON object whose last `refresh_token` wins), so the
        // token checked here is the one the origin would use. A body without one goes on as it
        // is, for the origin's own 422.
        let presented = serde_json::from_slice::<serde_json::Value>(&body).ok();
        if let Some(token) = presented.as_ref().and_then(|body| body.get("refresh_token")?.as_str())
            && self.config.tokens.verify(token, TokenKind::Refresh, cx.now).is_err()
        {
            return respond::invalid_token();
        }
        self.grant("/internal/v1/auth/refresh", cx, body).await
    }

    /// Asks the origin's internal API for a grant and signs the pair it names.
    async fn grant(&self, internal_path: &str, cx: &Context<'_>, body: Vec<u8>) -> Response<Vec<u8>> {
        let answer = match self.ask_origin(&Method::POST, internal_path, cx, body).await {
            Ok(answer) => answer,
            Err(reason) => return unanswered(&reason),
        };
        if answer.status() != StatusCode::OK {
            return passed_back(answer);
        }
        let Ok(grant) = serde_json::from_slice::<Grant>(answer.body()) else {
            return respond::origin_unreachable();
        };
        let subject =
            Subject { user_id: UserId(grant.user_id), username: grant.username, role: grant.role, ver: grant.ver };
        // The origin names the generation and its time: a repeat in the grace window signs the
        // very pair signed before.
        let ticket = Ticket { sid: grant.sid, generation: grant.generation, issued_at: grant.issued_at };
        respond::tokens(&self.config.tokens.issue_pair(&subject, &ticket))
    }

    /// The `/users` routes: the access token (and for `/users/admin` the admin role) is checked
    /// here; the origin checks again what only the database knows.
    async fn gated<B: LazyBody>(&self, method: &Method, admin: bool, cx: &Context<'_>, body: B) -> Response<Vec<u8>> {
        let token = match self.access_token(cx) {
            Ok(token) => token,
            Err(None) => return respond::not_authenticated(),
            Err(Some(_)) => return respond::invalid_token(),
        };
        if admin && token.subject.role != Role::Admin {
            return respond::forbidden();
        }
        self.pass(method, cx, body).await
    }

    /// The verified access token, or the answer for a request without one (`None`: no token at
    /// all) or with a bad one.
    fn access_token(&self, cx: &Context<'_>) -> Result<VerifiedToken, Option<TokenError>> {
        let header = cx.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header.and_then(shared::token::bearer_token).ok_or(None)?;
        self.config.tokens.verify(token, TokenKind::Access, cx.now).map_err(Some)
    }

    /// Forwards the request to the same path on the origin.
    async fn pass<B: LazyBody>(&self, method: &Method, cx: &Context<'_>, body: B) -> Response<Vec<u8>> {
        // The origin reads no body on these methods: none is copied.
        let body = if matches!(*method, Method::GET | Method::HEAD) {
            Vec::new()
        } else {
            match body.read(MAX_BODY_BYTES).await {
                Ok(body) => body,
                Err(err) => return respond::body_error(err),
            }
        };
        match self.ask_origin(method, cx.path_and_query, cx, body).await {
            Ok(answer) => passed_back(answer),
            Err(reason) => unanswered(&reason),
        }
    }

    /// Sends one request to the origin, with the client's bearer, the request id and the edge's
    /// credential.
    async fn ask_origin(
        &self,
        method: &Method,
        path_and_query: &str,
        cx: &Context<'_>,
        body: Vec<u8>,
    ) -> Result<Response<Vec<u8>>, Unanswered> {
        // ORIGIN_URL was checked at start-up to take a path: only a client's URI too long for
        // `http` once the origin's address is in front fails here.
        let uri = format!("{}{path_and_query}", self.config.origin_url).parse().map_err(|_| Unanswered::UriTooLong)?;
        let mut request = Request::new(body);
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        for name in [AUTHORIZATION, CONTENT_TYPE, USER_AGENT] {
            if let Some(value) = cx.headers.get(&name) {
                headers.insert(name, value.clone());
            }
        }
        headers.insert(REQUEST_ID, cx.request_id.clone());
        // The credential goes on every call, so the origin also trusts the client address of
        // forwarded public requests (rate limits key on it).
        if let Ok(token) = HeaderValue::from_str(&self.config.service_token) {
            headers.insert(SERVICE_TOKEN, token);
        }
        if let Some(ip) = cx.client_ip.and_then(|ip| HeaderValue::from_str(ip).ok()) {
            headers.insert(CLIENT_IP, ip);
        }
        self.origin.send(request).await.map_err(Unanswered::Origin)
    }
}

/// Why a request got no answer from the origin.
enum Unanswered {
    /// The client's URI cannot be put behind the origin's address (it would exceed `http`'s limit).
    UriTooLong,
    Origin(OriginError),
}

/// The origin's answer, with only the headers a client should see.
fn passed_back(answer: Response<Vec<u8>>) -> Response<Vec<u8>> {
    let (parts, body) = answer.into_parts();
    let mut response = Response::new(body);
    *response.status_mut() = parts.status;
    for name in PASSED_BACK {
        for value in parts.headers.get_all(name) {
            response.headers_mut().append(HeaderName::from_static(name), value.clone());
        }
    }
    response
}

/// What the client hears when the origin could not be asked or did not answer.
fn unanswered(reason: &Unanswered) -> Response<Vec<u8>> {
    match reason {
        Unanswered::UriTooLong => respond::error(StatusCode::URI_TOO_LONG, shared::error::detail::URI_TOO_LONG),
        Unanswered::Origin(OriginError::Timeout) => respond::origin_timeout(),
        Unanswered::Origin(OriginError::Unreachable(_)) => respond::origin_unreachable(),
    }
}

/// The origin's admin routes below `/users/admin/`, with the methods each takes: `{id}` (GET,
/// HEAD, PATCH, DELETE), `{id}/sessions` (DELETE), `audit` (GET, HEAD). Anything else goes on
/// ungated, for the origin's own 404 or 405.
fn is_admin_route(method: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/users/admin/") else {
        return false;
    };
    match rest.split_once('/') {
        None if rest == "audit" => matches!(method, "GET" | "HEAD"),
        None => !rest.is_empty() && matches!(method, "GET" | "HEAD" | "PATCH" | "DELETE"),
        Some((id, "sessions")) => !id.is_empty() && method == "DELETE",
        Some(_) => false,
    }
}

/// A client's request id is kept when it is short and plain, else replaced.
fn is_safe_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// A path with no `//`, no `.` or `..` segment and no percent-encoded dot, slash or backslash: one
/// that every proxy and router reads the same way.
fn is_canonical(path: &str) -> bool {
    let encoded_separator = |window: &[u8]| {
        window[0] == b'%' && [b"2e", b"2f", b"5c"].iter().any(|code| window[1..].eq_ignore_ascii_case(*code))
    };
    path.starts_with('/')
        && !path.contains("//")
        && !path.contains('\\')
        && !path.as_bytes().windows(3).any(encoded_separator)
        && !path.split('/').any(|segment| segment == "." || segment == "..")
}
