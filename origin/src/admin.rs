//! `origin create-admin`: makes a user an admin, creating it when missing. Its errors are the
//! messages the command prints, causes included.

use shared::api::{NewUser, UserOut};
use shared::domain::{Email, PersonName, Username};
use shared::policy::Password;

use crate::config::Config;
use crate::db::{self, users};
use crate::hasher::{PasswordHasher, Pbkdf2Hasher};
use crate::telemetry::Chain;

/// Creates or promotes `username` with `password` (which must meet the password policy).
pub async fn create_admin(
    config: &Config,
    username: &str,
    email: Option<&str>,
    password: &str,
) -> Result<UserOut, String> {
    let username = Username::parse(username).map_err(|e| format!("username: {e}"))?;
    let email = email.map(str::to_owned).unwrap_or_else(|| format!("{username}@example.com"));
    let email = Email::parse(&email).map_err(|e| format!("email: {e}"))?;
    let password = Password::new_password(password, &config.password_policy, &[username.as_ref(), email.as_ref()])
        .map_err(|e| format!("password: {e}"))?;
    let name = PersonName::parse("admin").map_err(|e| e.to_string())?;
    let new_user = NewUser { username, password, email, first_name: name.clone(), last_name: name };
    let pool = db::pool(&config.database_url, 1, config.db_timeout).map_err(|e| Chain(&e).to_string())?;
    db::migrate(&pool).await.map_err(|e| Chain(&e).to_string())?;
    let hasher = Pbkdf2Hasher { policy: config.hash_policy };
    let hash = hasher.hash(&new_user.password);
    let user = users::upsert_admin(&pool, &new_user, &hash).await.map_err(|e| match e {
        db::StoreError::Conflict { .. } => "that email belongs to another user".to_owned(),
        other => Chain(&other).to_string(),
    })?;
    Ok(user.to_out())
}
