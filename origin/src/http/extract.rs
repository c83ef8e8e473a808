//! Extractors whose rejections are our error shape: the JSON body (pydantic-style 422s), the
//! token routes' JSON or form body, the caller, and the current user from the bearer token.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shared::api::LoginRequest;
use shared::domain::{TokenKind, UserId};
use shared::error::{FieldError, LocPart};
use shared::refusal::Refusal;
use shared::token::VerifiedToken;

use super::edge::ClientIp;
use super::error::ApiError;
use crate::auth::{Caller, access};
use crate::db::users::User;
use crate::state::AppState;

/// A JSON body. Bad JSON, a non-object, a missing field or a wrong type is a 422 naming the field.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if media_type(&req) != MediaType::Json {
            return Err(ApiError::Refused(Refusal::UnsupportedMediaType));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The credentials of `POST /auth/token`: JSON, or the OAuth2 password form ([`TokenForm`]).
/// Anything else is 415.
pub struct TokenRequest(pub LoginRequest);

impl<S: Send + Sync> FromRequest<S> for TokenRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let media = media_type(&req);
        let body = body_bytes(req, state).await?;
        match media {
            MediaType::Form => parse_form(&body),
            MediaType::Json => parse_json(&body),
            MediaType::Other => Err(ApiError::Refused(Refusal::UnsupportedMediaType)),
        }
        .map(TokenRequest)
    }
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
    /// The device token an earlier login answered (see `LoginRequest`).
    #[schema(format = Password)]
    device_token: Option<String>,
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
    Ok(LoginRequest { username: form.username, password: form.password, device_token: form.device_token })
}

/// What a request body claims to be. No `Content-Type` is read as JSON, as FastAPI does.
#[derive(Debug, PartialEq, Eq)]
pub enum MediaType {
    Json,
    Form,
    Other,
}

pub fn media_type(req: &Request) -> MediaType {
    let value = req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "" | "application/json" => MediaType::Json,
        m if m.starts_with("application/") && m.ends_with("+json") => MediaType::Json,
        "application/x-www-form-urlencoded" => MediaType::Form,
        _ => MediaType::Other,
    }
}

/// The raw body, with an oversized one refused as 413 in our shape.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::Refused(Refusal::BodyTooLarge)
        } else {
            ApiError::Refused(Refusal::BodyUnreadable)
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        let offset = byte_offset(bytes, err.line(), err.column());
        ApiError::from(vec![FieldError::new(
            vec!["body".into(), LocPart::Index(offset as u64)],
            "json_invalid",
            "JSON decode error",
        )])
    })?;
    if !value.is_object() {
        return Err(ApiError::from(vec![FieldError::new(
            vec!["body".into()],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        )]));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut loc: Vec<LocPart> = vec!["body".into()];
        for segment in err.path().iter() {
            match segment {
                serde_path_to_error::Segment::Map { key } => loc.push(LocPart::Field(key.clone())),
                serde_path_to_error::Segment::Seq { index } => loc.push(LocPart::Index(*index as u64)),
                _ => {}
            }
        }
        ApiError::from(vec![field_error(loc, &err.into_inner().to_string())])
    })
}

/// Turns serde's message into pydantic's vocabulary, the one the seed's clients know.
fn field_error(mut loc: Vec<LocPart>, message: &str) -> FieldError {
    if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        loc.push(field.into());
        return FieldError::new(loc, "missing", "Field required");
    }
    if message.contains("expected a string") {
        return FieldError::new(loc, "string_type", "Input should be a valid string");
    }
    if message.contains("expected a boolean") {
        return FieldError::new(loc, "bool_type", "Input should be a valid boolean");
    }
    if message.contains("unknown variant") {
        return FieldError::new(loc, "enum", "Input should be 'user' or 'admin'");
    }
    FieldError::new(loc, "value_error", "Invalid value")
}

/// serde_json reports line and column; FastAPI reports the byte position.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes.split(|b| *b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

/// A query string's parameters, read as FastAPI reads typed ones: every bad value is reported at
/// once, in a 422 naming `["query", name]`.
pub struct QueryParams {
    pairs: Vec<(String, String)>,
    invalid: Vec<FieldError>,
}

impl QueryParams {
    pub fn parse(query: Option<&str>) -> Self {
        Self { pairs: serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default(), invalid: Vec::new() }
    }

    /// The integer `name` within `min..=max`; `None` when absent or invalid (then noted for
    /// [`Self::finish`]).
    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let (_, raw) = self.pairs.iter().find(|(k, _)| k == name)?;
        let loc = || vec![LocPart::from("query"), LocPart::from(name)];
        let error = match raw.parse::<i64>() {
            Ok(value) if value < min => {
                FieldError::new(loc(), "greater_than_equal", format!("Input should be greater than or equal to {min}"))
            }
            Ok(value) if value > max => {
                FieldError::new(loc(), "less_than_equal", format!("Input should be less than or equal to {max}"))
            }
            Ok(value) => return Some(value),
            Err(_) => FieldError::new(
                loc(),
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            ),
        };
        self.invalid.push(error);
        None
    }

    /// Whether the query names `name`, valid or not.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == name)
    }

    /// Notes a rule between parameters that the query breaks, for [`Self::finish`].
    pub fn invalid(&mut self, error: FieldError) {
        self.invalid.push(error);
    }

    /// A 422 for every invalid value read so far.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.invalid.is_empty() { Ok(()) } else { Err(ApiError::from(self.invalid)) }
    }
}

/// A user id in the path (`/users/admin/{id}`): FastAPI's 422 for one that is not an integer.
pub fn path_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse().map(UserId).map_err(|_| {
        ApiError::from(vec![FieldError::new(
            vec![LocPart::from("path"), LocPart::from("id")],
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )])
    })
}

/// The bearer token of the request, if it has one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    shared::token::bearer_token(parts.headers.get(AUTHORIZATION)?.to_str().ok()?)
}

/// The user the access token belongs to, checked against the database: the user still exists,
/// is active, and the token's version is the user's current one (a password change revokes).
pub struct CurrentUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let CurrentSession { user, .. } = CurrentSession::from_request_parts(parts, state).await?;
        Ok(Self(user))
    }
}

/// [`CurrentUser`] with the access token it came with (its session is `token.sid`).
pub struct CurrentSession {
    pub user: User,
    pub token: VerifiedToken,
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentSession
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let token = bearer(parts).ok_or(ApiError::Refused(Refusal::NotAuthenticated))?;
        let (user, token) = access::authorize(&state, token, TokenKind::Access).await?;
        let route = shared::contract::access(parts.method.as_str(), parts.uri.path());
        access::assured(&state, &user, &token, route, parts.method.as_str(), parts.uri.path())?;
        Ok(Self { user, token })
    }
}

/// The caller: its user agent, and the client address [`super::edge::guard`] recorded.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let ip = parts.extensions.get::<ClientIp>().and_then(|client| client.0);
        Ok(Self { user_agent, ip })
    }
}

/// The current user, who must be an admin now (the database's role, not the token's).
pub struct AdminUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        Ok(Self(access::admin(user)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    fn errors(body: &str) -> Vec<FieldError> {
        match parse_json::<Login>(body.as_bytes()) {
            Err(ApiError::Refused(Refusal::Invalid(errors))) => errors,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn bad_json_is_a_422_at_its_byte_position() {
        // Python's json module: "Expecting property name ...: line 1 column 2 (char 1)".
        let e = errors("{not json");
        assert_eq!(e[0].kind, "json_invalid");
        assert_eq!(e[0].loc, vec![LocPart::from("body"), LocPart::Index(1)]);
    }

    #[test]
    fn a_missing_field_and_a_wrong_type_name_the_field() {
        let e = errors(r#"{"username": "a"}"#);
        assert_eq!((e[0].kind.as_str(), e[0].loc.clone()), ("missing", vec!["body".into(), "password".into()]));
        let e = errors(r#"{"username": 5, "password": "x"}"#);
        assert_eq!((e[0].kind.as_str(), e[0].loc.clone()), ("string_type", vec!["body".into(), "username".into()]));
        let e = errors("[1]");
        assert_eq!(e[0].kind, "model_attributes_type");
    }
}
