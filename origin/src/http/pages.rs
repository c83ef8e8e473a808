//! `GET /reset-password` and `GET /verify`: the pages a mailed link opens. Each reads the token
//! from the link's fragment (which no server or CDN log ever sees) and POSTs it when the user acts,
//! so a mail scanner that opens the link spends nothing. Served under a CSP that allows exactly
//! the page's own script and style (their SHA-256, computed here from the embedded files), and
//! with no referrer: the page's address must not leave it.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::state::AppState;

const RESET_PASSWORD: &str = include_str!("../../assets/pages/reset-password.html");
const VERIFY: &str = include_str!("../../assets/pages/verify.html");

static RESET_PASSWORD_CSP: LazyLock<String> = LazyLock::new(|| content_security_policy(RESET_PASSWORD));
static VERIFY_CSP: LazyLock<String> = LazyLock::new(|| content_security_policy(VERIFY));

pub fn router() -> Router<AppState> {
    Router::new().route("/reset-password", get(reset_password)).route("/verify", get(verify))
}

/// The page a reset link opens: a form for the new password.
#[utoipa::path(get, path = "/reset-password", tag = "account",
    responses((status = 200, description = "The page that sets a new password with the link's token", content_type = "text/html")))]
async fn reset_password() -> Response {
    page(RESET_PASSWORD, &RESET_PASSWORD_CSP)
}

/// The page a verify link opens: a button that confirms the address.
#[utoipa::path(get, path = "/verify", tag = "account",
    responses((status = 200, description = "The page that confirms an address with the link's token", content_type = "text/html")))]
async fn verify() -> Response {
    page(VERIFY, &VERIFY_CSP)
}

fn page(html: &'static str, csp: &str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_str(csp).unwrap_or(HeaderValue::from_static("default-src 'none'")),
        ),
    ];
    (headers, html).into_response()
}

/// Nothing but the page's own inline script and style, `fetch` to this origin, and no framing.
fn content_security_policy(html: &str) -> String {
    format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; form-action 'none'; \
         base-uri 'none'; frame-ancestors 'none'",
        inline_hash(html, "script"),
        inline_hash(html, "style"),
    )
}

/// `sha256-…` of the text between `<tag>` and `</tag>`, as CSP hashes an inline element.
fn inline_hash(html: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let body = html
        .split_once(open.as_str())
        .and_then(|(_, rest)| rest.split_once(close.as_str()))
        .map_or("", |(body, _)| body);
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_page_has_one_inline_script_and_style_and_the_policy_names_their_hashes() {
        for html in [RESET_PASSWORD, VERIFY] {
            assert_eq!(html.matches("<script>").count(), 1);
            assert_eq!(html.matches("<style>").count(), 1);
            let handler = html.split(" on").skip(1).any(|rest| {
                let name = rest.chars().take_while(char::is_ascii_lowercase).count();
                name > 0 && rest[name..].starts_with('=')
            });
            assert!(
                !html.contains("<script ") && !html.contains(" style=") && !handler,
                "inline code the CSP would block"
            );
            let csp = content_security_policy(html);
            assert!(csp.contains("script-src 'sha256-") && csp.contains("style-src 'sha256-"), "{csp}");
            assert!(
                !csp.contains("'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"),
                "the hash of nothing: {csp}"
            );
        }
    }
}
