//! `/openapi.json`, generated from the handlers, and `/docs` (Swagger UI, vendored from
//! crates.io so the build downloads nothing else).

use axum::Router;
use shared::error::{ErrorBody, ValidationBody};
use utoipa::openapi::security::{Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "JWT Auth API", description = "JWT authentication: tokens, refresh, users, admin."),
    paths(
        super::health::health,
        super::health::ready,
        super::health::live,
        super::auth::token,
        super::auth::login,
        super::auth::refresh,
        super::lifecycle::forgot_password,
        super::lifecycle::reset_password,
        super::lifecycle::request_verify_token,
        super::lifecycle::verify,
        super::mfa::status,
        super::mfa::enrol,
        super::mfa::confirm,
        super::mfa::disable,
        super::mfa::regenerate_codes,
        super::mfa::remove_by_admin,
        super::mfa::complete_login,
        super::pages::reset_password,
        super::pages::verify,
        super::keys::jwks,
        super::sessions::logout,
        super::sessions::logout_all,
        super::sessions::list,
        super::sessions::list_devices,
        super::sessions::forget_device,
        super::users::sign_up,
        super::users::read_me,
        super::users::update_me,
        super::users::delete_me,
        super::users::list_users,
        super::admin::read_user,
        super::admin::change_user,
        super::admin::delete_user,
        super::admin::end_sessions,
        super::admin::audit_log,
    ),
    // The refusal groups of `responses.rs` reference these; utoipa collects schemas from a path's
    // own rows only.
    components(schemas(ErrorBody, ValidationBody)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Tokens"),
        (name = "users", description = "Sign-up and the current user"),
        (name = "mfa", description = "The second factor: TOTP and recovery codes"),
        (name = "account", description = "Password reset and email verification by mailed links"),
        (name = "admin", description = "Admin operations"),
        (name = "health", description = "Health check"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        // Swagger's Authorize button: the OAuth2 password flow against /auth/token.
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new("/auth/token", Scopes::new()))])),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use shared::contract::{Access, access, guarded_routes};
    use utoipa::OpenApi;

    use super::ApiDoc;

    /// Every documented operation: method (upper case), path pattern, whether it asks for the
    /// bearer scheme, and whether it is tagged `admin`.
    fn operations() -> Vec<(String, String, bool, bool)> {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let bearer = operation["security"]
                    .as_array()
                    .is_some_and(|requirements| requirements.iter().any(|r| r.get("bearer").is_some()));
                let admin = operation["tags"].as_array().is_some_and(|tags| tags.contains(&Value::from("admin")));
                operations.push((method.to_uppercase(), path.clone(), bearer, admin));
            }
        }
        operations
    }

    /// The edge gates requests by `shared::contract`'s table and the origin documents its
    /// handlers' security: the two must say the same of every route.
    #[test]
    fn the_documented_security_of_every_operation_is_the_contracts_route_table() {
        let operations = operations();
        assert!(operations.len() >= 20, "{operations:?}");
        for (method, path, bearer, admin) in &operations {
            let expected = match (bearer, admin) {
                (false, _) => Access::Open,
                (true, false) => Access::Bearer,
                (true, true) => Access::Admin,
            };
            let request_path = path.replace("{id}", "7");
            assert_eq!(access(method, &request_path), expected, "{method} {path}");
        }
        // And the table gates no route that the API does not document as gated (HEAD is GET's).
        for (method, pattern, _) in guarded_routes().filter(|(method, _, _)| *method != "HEAD") {
            assert!(
                operations.iter().any(|(m, p, bearer, _)| m == method && p == pattern && *bearer),
                "{method} {pattern} is gated by the contract but not documented with bearer security"
            );
        }
    }
}
