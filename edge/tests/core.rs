//! The edge core against an origin that records what reaches it.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error; its helpers too")]

use std::cell::Cell;

use edge::{BodyError, ConfigError, Edge, EdgeConfig, HostAddr, LazyBody, OriginError, RecordingOrigin};
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use shared::domain::{Role, TokenKind, UserId};
use shared::session::Ticket;
use shared::token::{Keyring, Subject, TokenService, TokenSettings};

const SECRET: &str = "edge-core-tests-secret-0123456789abcdef";
const NOW: u64 = 1_800_000_000;

/// The header in which the tests' host writes the client's address.
const ADDR_HEADER: &str = "host-client-addr";

fn config() -> EdgeConfig {
    config_with(&[("EDGE_CLIENT_ADDR_HEADER", ADDR_HEADER)])
}

fn config_with(extra: &[(&str, &str)]) -> EdgeConfig {
    let vars = [
        ("JWT_SECRET", SECRET),
        ("ORIGIN_URL", "http://origin.test"),
        ("EDGE_SERVICE_TOKEN", "edge-service-token-0123456789abcdef"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example"),
    ];
    let lookup = |name: &str| extra.iter().chain(&vars).find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
    EdgeConfig::from_lookup(lookup, HostAddr::Named).unwrap()
}

fn tokens(secret: &str) -> TokenService {
    TokenService::new(Keyring::from_secret(secret).unwrap(), TokenSettings::default()).unwrap()
}

fn ticket(sid: &str, issued_at: u64) -> Ticket {
    Ticket { sid: sid.into(), generation: 0, issued_at, assurance: shared::assurance::Assurance::password(issued_at) }
}

fn token(role: Role, kind: TokenKind) -> String {
    let subject = Subject { user_id: UserId(7), username: "user".into(), role, ver: 3, email_verified: false };
    tokens(SECRET).issue(&subject, kind, &ticket("session-1", NOW))
}

fn request(method: Method, path: &str, bearer: Option<&str>, body: &str) -> Request<Vec<u8>> {
    let mut builder = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

fn origin_json(status: u16, body: Value) -> Result<Response<Vec<u8>>, OriginError> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .unwrap())
}

fn body(response: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

/// The request as a host that writes the client's address hands it over.
async fn handle(origin: RecordingOrigin, mut request: Request<Vec<u8>>) -> (Response<Vec<u8>>, RecordingOrigin) {
    request.headers_mut().append(ADDR_HEADER, "203.0.113.9".parse().unwrap());
    let edge = Edge::new(config(), origin);
    let response = edge.handle(request, NOW).await;
    (response, edge.into_origin())
}

#[tokio::test]
async fn forged_expired_and_wrong_kind_tokens_are_refused_without_reaching_the_origin() {
    let valid = token(Role::User, TokenKind::Access);
    let payload = valid.split('.').nth(1).unwrap();
    let expired = tokens(SECRET).issue(
        &Subject { user_id: UserId(7), username: "user".into(), role: Role::User, ver: 0, email_verified: false },
        TokenKind::Access,
        &ticket("s", NOW - 10_000),
    );
    for bad in [
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."),
        tokens("another-secret-entirely-0123456789abcdef").issue(
            &Subject { user_id: UserId(7), username: "user".into(), role: Role::User, ver: 0, email_verified: false },
            TokenKind::Access,
            &ticket("s", NOW),
        ),
        token(Role::User, TokenKind::Refresh),
        expired,
        "garbage".into(),
    ] {
        let (response, origin) =
            handle(RecordingOrigin::default(), request(Method::GET, "/users", Some(&bad), "")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
        assert_eq!(body(&response), json!({"detail": "Could not validate credentials"}));
        assert!(origin.requests.borrow().is_empty(), "{bad} reached the origin");
    }
    // HEAD runs the origin's GET handlers: it is gated alike, and a user's token stays off the
    // admin list whatever the method.
    let user = token(Role::User, TokenKind::Access);
    for (path, bearer, status) in
        [("/users", "garbage", StatusCode::UNAUTHORIZED), ("/users/admin", user.as_str(), StatusCode::FORBIDDEN)]
    {
        let (response, origin) =
            handle(RecordingOrigin::default(), request(Method::HEAD, path, Some(bearer), "")).await;
        assert_eq!(response.status(), status, "HEAD {path}");
        assert!(origin.requests.borrow().is_empty(), "HEAD {path} reached the origin");
    }
}

#[tokio::test]
async fn no_token_is_not_authenticated_and_a_user_is_forbidden_the_admin_list_at_the_edge() {
    let (response, origin) = handle(RecordingOrigin::default(), request(Method::GET, "/users", None, "")).await;
    assert_eq!(
        (response.status(), body(&response)),
        (StatusCode::UNAUTHORIZED, json!({"detail": "Not authenticated"}))
    );
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let user = token(Role::User, TokenKind::Access);
    let admin_list = request(Method::GET, "/users/admin", Some(&user), "");
    let (response, origin2) = handle(RecordingOrigin::default(), admin_list).await;
    assert_eq!(
        (response.status(), body(&response)),
        (StatusCode::FORBIDDEN, json!({"detail": "Not enough permissions"}))
    );
    assert!(origin.requests.borrow().is_empty() && origin2.requests.borrow().is_empty());
}

#[tokio::test]
async fn a_valid_token_is_forwarded_with_the_bearer_a_request_id_and_the_credential() {
    let access = token(Role::Admin, TokenKind::Access);
    let origin = RecordingOrigin::answering([origin_json(200, json!([]))]);
    let (response, origin) = handle(origin, request(Method::GET, "/users/admin?limit=5", Some(&access), "")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let requests = origin.requests.borrow();
    let sent = &requests[0];
    assert_eq!(sent.uri().to_string(), "http://origin.test/users/admin?limit=5");
    assert_eq!(sent.headers()["authorization"], format!("Bearer {access}"));
    assert_eq!(sent.headers()["x-edge-token"], "edge-service-token-0123456789abcdef");
    assert_eq!(sent.headers()["x-edge-client-ip"], "203.0.113.9");
    assert_eq!(sent.headers()["x-request-id"], response.headers()["x-request-id"]);
    assert_eq!(response.headers()["x-request-id"].len(), 32);
}

#[tokio::test]
async fn a_login_is_checked_by_the_origin_and_signed_by_the_edge() {
    let grant = json!({"user_id": 7, "username": "user", "role": "user", "ver": 3, "sid": "s-42", "generation": 4, "issued_at": NOW});
    let origin = RecordingOrigin::answering([origin_json(200, grant)]);
    let login = request(Method::POST, "/auth/login", None, r#"{"username":"user","password":"pw"}"#);
    let (response, origin) = handle(origin, login).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pair = body(&response);
    assert_eq!((pair["token_type"].as_str(), pair["expires_in"].as_u64()), (Some("bearer"), Some(900)));
    let access = tokens(SECRET).verify(pair["access_token"].as_str().unwrap(), TokenKind::Access, NOW).unwrap();
    assert_eq!((access.subject.user_id, access.subject.ver, access.sid.as_str()), (UserId(7), 3, "s-42"));
    assert_eq!((access.generation(), access.issued_at), (Some(4), NOW), "the origin's ticket is signed");
    let sent = &origin.requests.borrow()[0];
    assert_eq!(sent.uri().path(), "/internal/v1/auth/login");
    assert_eq!(sent.body().as_slice(), br#"{"username":"user","password":"pw"}"#);
}

#[tokio::test]
async fn the_origins_refusals_pass_through_unchanged() {
    let refusal = Response::builder()
        .status(401)
        .header("content-type", "application/json")
        .header("www-authenticate", "Bearer")
        .header("set-cookie", "internal=1")
        .body(br#"{"detail":"Incorrect username or password"}"#.to_vec())
        .unwrap();
    let login = request(Method::POST, "/auth/token", None, r#"{"username":"user","password":"nope"}"#);
    let (response, _) = handle(RecordingOrigin::answering([Ok(refusal)]), login).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert!(!response.headers().contains_key("set-cookie"));
    assert_eq!(body(&response), json!({"detail": "Incorrect username or password"}));
}

#[tokio::test]
async fn a_bad_refresh_token_dies_at_the_edge_and_a_malformed_body_goes_to_the_origin() {
    let access_as_refresh = format!(r#"{{"refresh_token":"{}"}}"#, token(Role::User, TokenKind::Access));
    let (response, origin) =
        handle(RecordingOrigin::default(), request(Method::POST, "/auth/refresh", None, &access_as_refresh)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(origin.requests.borrow().is_empty());

    let unprocessable = origin_json(
        422,
        json!({"detail": [{"loc": ["body", "refresh_token"], "msg": "Field required", "type": "missing"}]}),
    );
    let (response, origin) =
        handle(RecordingOrigin::answering([unprocessable]), request(Method::POST, "/auth/refresh", None, "{}")).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(origin.requests.borrow()[0].uri().path(), "/internal/v1/auth/refresh");

    // The origin reads the last of duplicated keys: so does the edge, and a forged last one dies here.
    let good = token(Role::User, TokenKind::Refresh);
    let duplicated = format!(r#"{{"refresh_token":"{good}","refresh_token":"forged.token.here"}}"#);
    let (response, origin) =
        handle(RecordingOrigin::default(), request(Method::POST, "/auth/refresh", None, &duplicated)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(origin.requests.borrow().is_empty());
}

#[tokio::test]
async fn an_unreachable_origin_is_502_and_a_slow_one_504() {
    let user = token(Role::User, TokenKind::Access);
    let (response, _) = handle(
        RecordingOrigin::answering([Err(OriginError::Unreachable("refused".into()))]),
        request(Method::GET, "/users", Some(&user), ""),
    )
    .await;
    assert_eq!(
        (response.status(), body(&response)),
        (StatusCode::BAD_GATEWAY, json!({"detail": "Upstream service unavailable"}))
    );
    let (response, _) =
        handle(RecordingOrigin::answering([Err(OriginError::Timeout)]), request(Method::GET, "/", None, "")).await;
    assert_eq!(
        (response.status(), body(&response)),
        (StatusCode::GATEWAY_TIMEOUT, json!({"detail": "Upstream service timed out"}))
    );
}

#[tokio::test]
async fn an_unanswered_request_is_logged_with_its_request_id() {
    let user = token(Role::User, TokenKind::Access);
    let mut sent = request(Method::GET, "/users", Some(&user), "");
    sent.headers_mut().insert("x-request-id", "trace-me-42".parse().unwrap());
    let (response, origin) = handle(RecordingOrigin::default(), sent).await;
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    assert_eq!(
        *origin.logged.borrow(),
        ["edge: origin /users (x-request-id trace-me-42): Unreachable(\"no answer queued\")"]
    );

    // The path logged is the one the origin was asked for; a timeout says so.
    let edge = Edge::new(
        config_with(&[("ORIGIN_URL", "http://origin.test/api/")]),
        RecordingOrigin::answering([Err(OriginError::Timeout)]),
    );
    let mut sent = request(Method::GET, "/users?limit=5", Some(&user), "");
    sent.headers_mut().insert("x-request-id", "trace-me-43".parse().unwrap());
    let response = edge.handle(sent, NOW).await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(*edge.into_origin().logged.borrow(), ["edge: origin /api/users (x-request-id trace-me-43): Timeout"]);
}

#[tokio::test]
async fn only_failures_of_the_origin_are_logged() {
    let user = token(Role::User, TokenKind::Access);
    let (_, origin) = handle(
        RecordingOrigin::answering([origin_json(503, json!({"detail": "down"}))]),
        request(Method::GET, "/users", Some(&user), ""),
    )
    .await;
    assert_eq!(origin.requests.borrow().len(), 1);
    assert!(origin.logged.borrow().is_empty(), "an answer, even a 503, is no failure to reach the origin");
    let (_, origin) = handle(RecordingOrigin::default(), request(Method::GET, "/users", Some("garbage"), "")).await;
    assert!(origin.logged.borrow().is_empty(), "a refused token is the client's mistake");
}

#[tokio::test]
async fn an_oversized_body_is_413_without_reaching_the_origin() {
    let huge = format!(r#"{{"username":"u","password":"{}"}}"#, "x".repeat(20_000));
    let (response, origin) =
        handle(RecordingOrigin::default(), request(Method::POST, "/auth/login", None, &huge)).await;
    assert_eq!(
        (response.status(), body(&response)),
        (StatusCode::PAYLOAD_TOO_LARGE, json!({"detail": "Request body too large"}))
    );
    assert!(origin.requests.borrow().is_empty());
}

#[tokio::test]
async fn cors_preflights_are_answered_at_the_edge_for_allowed_origins_only() {
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/users")
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .body(Vec::new())
            .unwrap()
    };
    let (allowed, origin) = handle(RecordingOrigin::default(), preflight("https://app.example")).await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example");
    assert!(allowed.headers()["access-control-allow-methods"].to_str().unwrap().contains("PATCH"));
    assert_eq!(allowed.headers().get_all("vary").iter().collect::<Vec<_>>(), ["origin"]);
    let (refused, _) = handle(RecordingOrigin::default(), preflight("https://evil.example")).await;
    assert!(!refused.headers().contains_key("access-control-allow-origin"));
    assert!(origin.requests.borrow().is_empty());
}

#[tokio::test]
async fn unknown_routes_are_the_origins_to_answer() {
    let (response, origin) = handle(
        RecordingOrigin::answering([Ok(Response::builder()
            .status(405)
            .header("allow", "GET,HEAD,POST,PATCH,DELETE")
            .body(br#"{"detail":"Method Not Allowed"}"#.to_vec())
            .unwrap())]),
        request(Method::PUT, "/users", Some("not-even-checked"), "{}"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET,HEAD,POST,PATCH,DELETE");
    assert_eq!(origin.requests.borrow()[0].method(), Method::PUT);
}

#[tokio::test]
async fn the_internal_api_cannot_be_reached_through_the_edge() {
    for path in ["/internal/v1/auth/token", "/internal/v1/auth/refresh", "/internal"] {
        let login = request(Method::POST, path, None, r#"{"username":"user","password":"pw"}"#);
        let (response, origin) = handle(RecordingOrigin::default(), login).await;
        assert_eq!((response.status(), body(&response)), (StatusCode::NOT_FOUND, json!({"detail": "Not Found"})));
        assert!(origin.requests.borrow().is_empty(), "{path} reached the origin");
    }
    // Paths a normalising proxy between edge and origin would turn into the internal API (or a
    // gated route) are refused at the edge, as the origin refuses them: 404.
    for path in [
        "//internal/v1/auth/token",
        "/./internal/v1/auth/token",
        "/x/../internal/v1/auth/token",
        "/%2e%2e/internal/v1/auth/token",
        "/users%2Fadmin",
        "//users",
        "/x\\..\\users",
    ] {
        let (response, origin) = handle(RecordingOrigin::default(), request(Method::POST, path, None, "{}")).await;
        assert_eq!((response.status(), body(&response)), (StatusCode::NOT_FOUND, json!({"detail": "Not Found"})));
        assert!(origin.requests.borrow().is_empty(), "{path} reached the origin");
    }
}

#[tokio::test]
async fn a_uri_too_long_to_forward_is_414_and_never_sent_elsewhere() {
    let access = token(Role::User, TokenKind::Access);
    // Within what `http` parses, over it once the origin's address is in front.
    let path = format!("/users?{}", "a".repeat(65_520));
    let (response, origin) =
        handle(RecordingOrigin::default(), request(Method::DELETE, &path, Some(&access), "")).await;
    assert_eq!((response.status(), body(&response)), (StatusCode::URI_TOO_LONG, json!({"detail": "URI Too Long"})));
    assert!(origin.requests.borrow().is_empty());
}

#[tokio::test]
async fn with_eddsa_the_edge_signs_with_the_seed_and_publishes_the_public_key_itself() {
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let vars = [
        ("JWT_ALG", "EdDSA"),
        ("JWT_SECRET", SEED),
        ("ORIGIN_URL", "http://origin.test"),
        ("EDGE_SERVICE_TOKEN", "edge-service-token-0123456789abcdef"),
    ];
    let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
    let grant = json!({"user_id": 7, "username": "user", "role": "user", "ver": 3, "sid": "s-42", "generation": 0, "issued_at": NOW});
    let config = EdgeConfig::from_lookup(lookup, HostAddr::Named).unwrap();
    let edge = Edge::new(config, RecordingOrigin::answering([origin_json(200, grant)]));

    let jwks = edge.handle(request(Method::GET, "/.well-known/jwks.json", None, ""), NOW).await;
    assert_eq!(jwks.status(), StatusCode::OK);
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=300");
    assert_eq!(body(&jwks)["keys"][0]["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");

    let login = request(Method::POST, "/auth/login", None, r#"{"username":"user","password":"pw"}"#);
    let pair = body(&edge.handle(login, NOW).await);
    let verifier = shared::token::from_lookup(lookup).unwrap();
    let access = pair["access_token"].as_str().unwrap();
    assert!(verifier.verify(access, TokenKind::Access, NOW).is_ok());
    assert!(tokens(SECRET).verify(access, TokenKind::Access, NOW).is_err(), "not an HS256 token");
    assert_eq!(edge.into_origin().requests.borrow().len(), 1, "the keys were the edge's own answer");
}

#[tokio::test]
async fn the_admin_gate_covers_the_origins_admin_routes_and_no_others() {
    let user = token(Role::User, TokenKind::Access);
    for (method, path) in [
        (Method::GET, "/users/admin/7"),
        (Method::PATCH, "/users/admin/7"),
        (Method::DELETE, "/users/admin/7"),
        (Method::DELETE, "/users/admin/7/sessions"),
        (Method::GET, "/users/admin/audit"),
    ] {
        let (response, origin) =
            handle(RecordingOrigin::answering([]), request(method.clone(), path, Some(&user), "")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert!(origin.requests.borrow().is_empty(), "{method} {path} reached the origin");
    }
    // Routes the origin does not have (its 404 or 405 answers them, token or not).
    for (method, path) in [
        (Method::GET, "/users/admin/7/sessions"),
        (Method::DELETE, "/users/admin/audit"),
        (Method::GET, "/users/admin/7/x"),
    ] {
        let not_found = origin_json(404, json!({"detail": "Not Found"}));
        let (_, origin) =
            handle(RecordingOrigin::answering([not_found]), request(method.clone(), path, None, "")).await;
        assert_eq!(origin.requests.borrow().len(), 1, "{method} {path} is the origin's to answer");
    }
}

/// A host's body: what it declares, and whether the core asked for it.
struct HostBody<'a> {
    declared: Option<&'static str>,
    bytes: Result<Vec<u8>, BodyError>,
    read: &'a Cell<bool>,
}

impl LazyBody for HostBody<'_> {
    fn declared_length(&self) -> Option<String> {
        self.declared.map(str::to_owned)
    }

    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        self.read.set(true);
        let bytes = self.bytes?;
        if bytes.len() > limit { Err(BodyError::TooLarge) } else { Ok(bytes) }
    }
}

async fn post_login(
    declared: Option<&'static str>,
    bytes: Result<Vec<u8>, BodyError>,
) -> (Response<Vec<u8>>, bool, usize) {
    let read = Cell::new(false);
    let grant = json!({"user_id": 7, "username": "user", "role": "user", "ver": 3, "sid": "s", "generation": 0, "issued_at": NOW});
    let edge = Edge::new(config(), RecordingOrigin::answering([origin_json(200, grant)]));
    let login = Request::builder().method(Method::POST).uri("/auth/login").header("content-type", "application/json");
    let response = edge.handle(login.body(HostBody { declared, bytes, read: &read }).unwrap(), NOW).await;
    let reached = edge.into_origin().requests.borrow().len();
    (response, read.get(), reached)
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_413_before_a_byte_is_read() {
    let small = br#"{"username":"user","password":"pw"}"#.to_vec();
    let (response, read, reached) = post_login(Some("16385"), Ok(small.clone())).await;
    assert_eq!(
        (response.status(), body(&response)),
        (StatusCode::PAYLOAD_TOO_LARGE, json!({"detail": "Request body too large"}))
    );
    assert!(!read && reached == 0);
    // At the limit, or declared in no number the core reads, the body is read (within the limit).
    for declared in [Some("16384"), Some(" 35 "), Some("many"), None] {
        let (response, read, reached) = post_login(declared, Ok(small.clone())).await;
        assert_eq!((response.status(), read, reached), (StatusCode::OK, true, 1), "{declared:?}");
    }
    let (response, _, reached) = post_login(Some("many"), Ok(vec![b' '; 16_385])).await;
    assert_eq!((response.status(), reached), (StatusCode::PAYLOAD_TOO_LARGE, 0));
}

#[tokio::test]
async fn a_body_that_breaks_off_is_400_without_reaching_the_origin() {
    let (response, read, reached) = post_login(None, Err(BodyError::Unreadable)).await;
    assert_eq!(
        (response.status(), body(&response)),
        (StatusCode::BAD_REQUEST, json!({"detail": "There was an error parsing the body"}))
    );
    assert!(read && reached == 0);
}

#[tokio::test]
async fn a_get_carries_no_body_to_the_origin_and_reads_none() {
    let read = Cell::new(false);
    let user = token(Role::User, TokenKind::Access);
    let edge = Edge::new(config(), RecordingOrigin::answering([origin_json(200, json!([]))]));
    let get = Request::builder().uri("/users").header("authorization", format!("Bearer {user}"));
    let body = HostBody { declared: Some("99999"), bytes: Ok(b"ignored".to_vec()), read: &read };
    let response = edge.handle(get.body(body).unwrap(), NOW).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!read.get());
    assert!(edge.into_origin().requests.borrow()[0].body().is_empty());
}

#[tokio::test]
async fn the_client_address_is_the_last_the_trusted_header_says_as_an_ip() {
    let user = token(Role::User, TokenKind::Access);
    let forwarded_addr = |config: EdgeConfig, values: &[&str]| {
        let mut sent = request(Method::GET, "/users", Some(&user), "");
        for value in values {
            sent.headers_mut().append(ADDR_HEADER, value.parse().unwrap());
        }
        async move {
            let edge = Edge::new(config, RecordingOrigin::answering([origin_json(200, json!([]))]));
            edge.handle(sent, NOW).await;
            let origin = edge.into_origin();
            let requests = origin.requests.borrow();
            requests[0].headers().get("x-edge-client-ip").map(|v| v.to_str().unwrap().to_owned())
        }
    };
    // A host appends its own value after any the client sent; Spin writes `ip:port`.
    assert_eq!(forwarded_addr(config(), &["198.51.100.7", "203.0.113.9:4711"]).await.as_deref(), Some("203.0.113.9"));
    assert_eq!(forwarded_addr(config(), &["[2001:db8::1]:443"]).await.as_deref(), Some("2001:db8::1"));
    assert_eq!(forwarded_addr(config(), &["not-an-address"]).await, None);
    // Where no header is trusted, a client's own is not passed on.
    assert_eq!(forwarded_addr(config_with(&[]), &["203.0.113.9"]).await, None);
}

#[test]
fn cloudflare_trusts_only_the_header_it_writes_and_only_where_told_to() {
    let on_cloudflare = |name: &str| {
        let vars = [
            ("JWT_SECRET", SECRET),
            ("ORIGIN_URL", "http://origin.test"),
            ("EDGE_SERVICE_TOKEN", "edge-service-token-0123456789abcdef"),
            ("EDGE_CLIENT_ADDR_HEADER", name),
        ];
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        EdgeConfig::from_lookup(lookup, HostAddr::Only(http::HeaderName::from_static("cf-connecting-ip")))
    };
    let names = |config: Result<EdgeConfig, ConfigError>| {
        let edge = Edge::new(config.unwrap(), RecordingOrigin::default());
        edge.request_headers().map(|name| name.as_str().to_owned()).collect::<Vec<_>>()
    };
    assert!(!names(on_cloudflare("")).contains(&"cf-connecting-ip".to_owned()), "not read where not trusted");
    assert_eq!(names(on_cloudflare("cf-connecting-ip")).last().map(String::as_str), Some("cf-connecting-ip"));
    assert!(on_cloudflare("x-forwarded-for").unwrap_err().to_string().contains("cf-connecting-ip"));
}

#[tokio::test]
async fn only_the_passed_back_headers_of_the_origin_reach_the_client() {
    let user = token(Role::User, TokenKind::Access);
    let answer = Response::builder()
        .status(401)
        .header("content-type", "application/json")
        .header("content-length", "2")
        .header("date", "Thu, 01 Jan 2026 00:00:00 GMT")
        .header("x-request-id", "the-origins-own")
        .header("www-authenticate", "Bearer")
        .header("www-authenticate", r#"Basic realm="x""#)
        .header("retry-after", "5")
        .header("cache-control", "no-store")
        .header("pragma", "no-cache")
        .header("location", "/users")
        .header("allow", "GET")
        .header("server", "origin")
        .body(b"{}".to_vec())
        .unwrap();
    let mut sent = request(Method::GET, "/users", Some(&user), "");
    sent.headers_mut().insert("x-request-id", "client-42".parse().unwrap());
    let (response, _) = handle(RecordingOrigin::answering([Ok(answer)]), sent).await;
    let names: Vec<_> = response.headers().keys().map(|name| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "content-type",
            "www-authenticate",
            "retry-after",
            "cache-control",
            "pragma",
            "location",
            "allow",
            "vary",
            "x-request-id"
        ]
    );
    assert_eq!(response.headers().get_all("www-authenticate").iter().count(), 2);
    assert_eq!(response.headers()["x-request-id"], "client-42", "the edge's request id, not the origin's");
}

#[test]
fn the_fallbacks_are_a_bad_request_and_an_unconfigured_service() {
    let malformed = edge::malformed();
    assert_eq!((malformed.status(), body(&malformed)), (StatusCode::BAD_REQUEST, json!({"detail": "Bad Request"})));
    let err = EdgeConfig::from_lookup(|_| None, HostAddr::Named).unwrap_err();
    let mut logged = Vec::new();
    let answer = edge::misconfigured(&err, |line| logged.push(line.to_owned()));
    assert_eq!(
        (answer.status(), body(&answer)),
        (StatusCode::SERVICE_UNAVAILABLE, json!({"detail": "Service misconfigured"}))
    );
    assert_eq!(logged, [err.to_string()]);
    assert!(logged[0].contains("JWT_SECRET"), "the operator reads why: {}", logged[0]);
}

#[tokio::test]
async fn under_require_aal2_an_aal1_token_gets_the_step_up_challenge_without_reaching_the_origin() {
    use shared::assurance::{Assurance, SecondFactor};
    let issue = |assurance: Assurance| {
        let subject =
            Subject { user_id: UserId(7), username: "root".into(), role: Role::Admin, ver: 3, email_verified: true };
        let ticket = Ticket { sid: "s".into(), generation: 0, issued_at: NOW, assurance };
        tokens(SECRET).issue(&subject, TokenKind::Access, &ticket)
    };
    let aal1 = issue(Assurance::password(NOW));
    let aal2 = issue(Assurance { factor: SecondFactor::Totp, auth_time: NOW });
    for (policy, method, path, guarded) in [
        ("admin", Method::GET, "/users/admin", true),
        ("admin", Method::DELETE, "/users/admin/7/mfa", true),
        ("admin", Method::PATCH, "/users", false),
        ("all", Method::PATCH, "/users", true),
        ("all", Method::GET, "/users", false),
        ("all", Method::POST, "/users/mfa/totp", false),
        ("all", Method::POST, "/auth/logout", false),
    ] {
        let edge = Edge::new(
            config_with(&[("REQUIRE_AAL2", policy)]),
            RecordingOrigin::answering([origin_json(200, json!({}))]),
        );
        let response = edge.handle(request(method.clone(), path, Some(&aal1), "{}"), NOW).await;
        let origin = edge.into_origin();
        if guarded {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{policy} {method} {path}");
            let challenge = response.headers()["www-authenticate"].to_str().unwrap();
            assert_eq!(
                challenge,
                r#"Bearer error="insufficient_user_authentication", error_description="A second factor is required", acr_values="aal2""#
            );
            assert!(origin.requests.borrow().is_empty(), "{policy} {method} {path} reached the origin");
        } else {
            assert_eq!(response.status(), StatusCode::OK, "{policy} {method} {path}");
        }
        let edge = Edge::new(
            config_with(&[("REQUIRE_AAL2", policy)]),
            RecordingOrigin::answering([origin_json(200, json!({}))]),
        );
        let response = edge.handle(request(method.clone(), path, Some(&aal2), "{}"), NOW).await;
        assert_eq!(response.status(), StatusCode::OK, "aal2: {policy} {method} {path}");
    }
    let bad = EdgeConfig::from_lookup(
        |name| match name {
            "JWT_SECRET" => Some(SECRET.into()),
            "ORIGIN_URL" => Some("http://origin.test".into()),
            "EDGE_SERVICE_TOKEN" => Some("edge-service-token-0123456789abcdef".into()),
            "REQUIRE_AAL2" => Some("sometimes".into()),
            _ => None,
        },
        HostAddr::Named,
    );
    assert!(bad.unwrap_err().to_string().contains("REQUIRE_AAL2"));
}
