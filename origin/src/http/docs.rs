//! `/openapi.json`, generated from the handlers, and `/docs` (Swagger UI, vendored from
//! crates.io so the build downloads nothing else).

use axum::Router;
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
        super::keys::jwks,
        super::sessions::logout,
        super::sessions::logout_all,
        super::sessions::list,
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
    modifiers(&Security),
    tags(
        (name = "auth", description = "Tokens"),
        (name = "users", description = "Sign-up and the current user"),
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
