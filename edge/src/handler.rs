//! The edge's request handling, the same on every host.
//!
//! Routes: `GET /` (the edge's health with the origin's), `POST /auth/token|login` (the origin
//! checks the password, the edge signs), `POST /auth/refresh` (the edge verifies the refresh token
//! first; a bad one never travels; the origin rotates the session), the `/users` routes and
//! `/auth/logout[-all]` (the edge verifies the access token, and the admin role under
//! `/users/admin`, then forwards). Every other request goes to the origin untouched, so unknown
//! paths, methods, `/docs` and `/openapi.json` answer exactly as the origin does.

use http::header::{ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, ORIGIN};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use shared::api::TokenPair;
use shared::assurance::{Aal, Assurance, SecondFactor};
use shared::contract::http_header::{CLIENT_IP, REQUEST_ID, SERVICE_TOKEN};
use shared::contract::{Access, Grant, GrantRoute};
use shared::domain::{Role, TokenKind, UserId};
use shared::refusal::Refusal;
use shared::session::Ticket;
use shared::token::{Subject, TokenError, TokenService, VerifiedToken};

use crate::body::{LazyBody, read_within_limit};
use crate::config::EdgeConfig;
use crate::headers::{self, FORWARDED, REQUEST_HEADERS};
use crate::origin::{OriginClient, OriginError};
use crate::respond;

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

    /// The request headers an adapter hands over (the others the core never reads): the fixed
    /// few, and the one the host writes the client's address in where that is trusted.
    pub fn request_headers(&self) -> impl Iterator<Item = &HeaderName> {
        REQUEST_HEADERS.iter().chain(self.config.client_addr_header.as_ref())
    }

    /// Answers one request, which carries the [`Self::request_headers`] the client (or the host)
    /// sent; `now` is seconds since the epoch, from the host's clock.
    pub async fn handle<B: LazyBody>(&self, request: Request<B>, now: u64) -> Response<Vec<u8>> {
        let (parts, body) = request.into_parts();
        let request_id = parts.headers.get(&REQUEST_ID).filter(|id| headers::is_safe_request_id(id)).cloned();
        // Hex digits are always a valid header value: the fallback is never taken.
        let request_id = request_id.unwrap_or_else(|| {
            HeaderValue::try_from(TokenService::random_id()).unwrap_or(HeaderValue::from_static("-"))
        });
        let browser_origin = parts.headers.get(ORIGIN);
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let context = Context { headers: &parts.headers, path_and_query, request_id: request_id.clone(), now };

        let mut response =
            if parts.method == Method::OPTIONS && parts.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
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
        // encoded separators) into a gated or internal route is refused here, as the origin would;
        // and the internal API must not be reachable through it at all (answered as the origin
        // answers strangers).
        if !is_canonical(path) || shared::contract::is_internal(path) {
            return Refusal::NotFound.to_response();
        }
        match (method, path) {
            (&Method::GET, "/") => return self.health(cx).await,
            // The edge holds the keys: it publishes their public halves itself.
            (&Method::GET, shared::keys::JWKS_PATH) => return respond::jwks(self.config.tokens.jwks()),
            _ => {}
        }
        if let Some(route) = GrantRoute::of(method.as_str(), path) {
            return self.grant(route, cx, body).await;
        }
        // Gated by every method the origin routes there (HEAD runs the GET handler); other methods
        // reach no handler, so the origin's 404 or 405 needs no token.
        match shared::contract::access(method.as_str(), path) {
            Access::Open => self.pass(method, cx, body).await,
            access => self.gated(method, path, access, cx, body).await,
        }
    }

    /// The edge is up; the origin's health says whether the service is.
    async fn health(&self, cx: &Context<'_>) -> Response<Vec<u8>> {
        match self.ask_origin(&Method::GET, "/", cx, Vec::new()).await {
            Ok(answer) if answer.status() == StatusCode::OK => {
                respond::json(StatusCode::OK, &serde_json::json!({"status": "ok", "origin": "ok"}))
            }
            Ok(answer) => headers::passed_back(answer),
            Err(refusal) => refusal.to_response(),
        }
    }

    /// The token routes: the origin checks the password or the session (the hash never leaves
    /// it), the edge signs the pair its grant names. A refresh token is verified here first: a
    /// forged, expired or wrong-kind one is answered without travelling.
    async fn grant<B: LazyBody>(&self, route: GrantRoute, cx: &Context<'_>, body: B) -> Response<Vec<u8>> {
        let body = match read_within_limit(body).await {
            Ok(body) => body,
            Err(refusal) => return refusal.to_response(),
        };
        if route == GrantRoute::Refresh {
            // Read as the origin reads it (a JSON object whose last `refresh_token` wins), so the
            // token checked here is the one the origin would use. A body without one goes on as
            // it is, for the origin's own 422.
            let presented = serde_json::from_slice::<serde_json::Value>(&body).ok();
            if let Some(token) = presented.as_ref().and_then(|body| body.get("refresh_token")?.as_str())
                && self.config.tokens.verify(token, TokenKind::Refresh, cx.now).is_err()
            {
                return Refusal::InvalidToken.to_response();
            }
        }
        let answer = match self.ask_origin(&Method::POST, route.internal_path(), cx, body).await {
            Ok(answer) => answer,
            Err(refusal) => return refusal.to_response(),
        };
        if answer.status() != StatusCode::OK {
            return headers::passed_back(answer);
        }
        let Ok(grant) = serde_json::from_slice::<Grant>(answer.body()) else {
            return Refusal::OriginUnavailable.to_response();
        };
        let subject = Subject {
            user_id: UserId(grant.user_id),
            username: grant.username,
            role: grant.role,
            ver: grant.ver,
            email_verified: grant.email_verified,
        };
        // The origin names the generation and its time: a repeat in the grace window signs the
        // very pair signed before.
        let Some(factor) = SecondFactor::parse(&grant.second_factor) else {
            return Refusal::OriginUnavailable.to_response();
        };
        let assurance = Assurance { factor, auth_time: grant.auth_time };
        let ticket = Ticket { sid: grant.sid, generation: grant.generation, issued_at: grant.issued_at, assurance };
        let pair = TokenPair { device_token: grant.device_token, ..self.config.tokens.issue_pair(&subject, &ticket) };
        pair.to_response()
    }

    /// The `/users` routes: the access token (and for `/users/admin` the admin role, and where
    /// `REQUIRE_AAL2` says, a second factor) is checked here; the origin checks again what only the
    /// database knows.
    async fn gated<B: LazyBody>(
        &self,
        method: &Method,
        path: &str,
        access: Access,
        cx: &Context<'_>,
        body: B,
    ) -> Response<Vec<u8>> {
        let token = match self.access_token(cx) {
            Ok(token) => token,
            Err(None) => return Refusal::NotAuthenticated.to_response(),
            Err(Some(_)) => return Refusal::InvalidToken.to_response(),
        };
        if access == Access::Admin && token.subject.role != Role::Admin {
            return Refusal::Forbidden.to_response();
        }
        if token.assurance.aal() != Aal::Aal2 && self.config.require_aal2.demands(access, method.as_str(), path) {
            return Refusal::InsufficientUserAuthentication.to_response();
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
            match read_within_limit(body).await {
                Ok(body) => body,
                Err(refusal) => return refusal.to_response(),
            }
        };
        match self.ask_origin(method, cx.path_and_query, cx, body).await {
            Ok(answer) => headers::passed_back(answer),
            Err(refusal) => refusal.to_response(),
        }
    }

    /// Sends one request to the origin, with the client's bearer, the request id, the edge's
    /// credential and the client's address; logs why when it gets no answer. The refusal is what
    /// the client hears then.
    async fn ask_origin(
        &self,
        method: &Method,
        path_and_query: &str,
        cx: &Context<'_>,
        body: Vec<u8>,
    ) -> Result<Response<Vec<u8>>, Refusal> {
        // ORIGIN_URL was checked at start-up to take a path: only a client's URI too long for
        // `http` once the origin's address is in front fails here.
        let uri: Uri =
            format!("{}{path_and_query}", self.config.origin_url).parse().map_err(|_| Refusal::UriTooLong)?;
        let mut request = Request::new(body);
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        for name in &FORWARDED {
            if let Some(value) = cx.headers.get(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        headers.insert(REQUEST_ID, cx.request_id.clone());
        // The credential goes on every call, so the origin also trusts the client address of
        // forwarded public requests (rate limits key on it).
        if let Ok(token) = HeaderValue::from_str(self.config.service_tokens.current()) {
            headers.insert(SERVICE_TOKEN, token);
        }
        if let Some(addr) = headers::client_addr(cx.headers, self.config.client_addr_header.as_ref()) {
            headers.insert(CLIENT_IP, addr);
        }
        self.origin.send(request).await.map_err(|err| {
            // The client sees only 502 or 504; the operator needs the reason, and the request id
            // ties the line to the client's answer.
            let id = cx.request_id.to_str().unwrap_or("-");
            self.origin.log(&format!("edge: origin {} ({REQUEST_ID} {id}): {err:?}", uri.path()));
            match err {
                OriginError::Timeout => Refusal::OriginTimeout,
                OriginError::Unreachable(_) => Refusal::OriginUnavailable,
            }
        })
    }
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
