//! The `users` table. Lookups by name are case-insensitive (`lower(...)`, backed by the unique
//! indexes); the password hash leaves this module only inside [`Credentials`], for the hasher.

use chrono::NaiveDateTime;
use deadpool_postgres::{GenericClient, Pool};
use shared::api::{NewUser, UserOut};
use shared::domain::{Role, UserId};
use shared::token::Subject;
use tokio_postgres::Row;

use super::StoreError;

pub(super) const COLUMNS: &str = "id, username, email, first_name, last_name, active, role, token_version, create_date, update_date, \
     email_verified, pending_email";

/// [`COLUMNS`] named with their table, for statements that join another.
const QUALIFIED_COLUMNS: &str = "users.id, users.username, users.email, users.first_name, users.last_name, \
     users.active, users.role, users.token_version, users.create_date, users.update_date, \
     users.email_verified, users.pending_email";

/// A user row, without the password hash.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub active: bool,
    pub role: Role,
    pub token_version: i64,
    pub create_date: NaiveDateTime,
    pub update_date: NaiveDateTime,
    pub email_verified: bool,
    /// An address change waiting for the new address to confirm.
    pub pending_email: Option<String>,
}

impl User {
    pub(super) fn from_row(row: &Row) -> Result<Self, StoreError> {
        let role: String = row.try_get("role")?;
        Ok(Self {
            id: UserId(row.try_get("id")?),
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            active: row.try_get("active")?,
            role: Role::parse(&role).map_err(|_| StoreError::UnknownRole(role.clone()))?,
            token_version: row.try_get("token_version")?,
            create_date: row.try_get("create_date")?,
            update_date: row.try_get("update_date")?,
            email_verified: row.try_get("email_verified")?,
            pending_email: row.try_get("pending_email")?,
        })
    }

    /// The API's view: the seed's fields, dates with six fractional digits.
    pub fn to_out(&self) -> UserOut {
        UserOut {
            id: self.id.0,
            username: self.username.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            active: self.active,
            role: self.role,
            create_date: super::api_date(&self.create_date),
            update_date: super::api_date(&self.update_date),
            email_verified: self.email_verified,
            pending_email: self.pending_email.clone(),
        }
    }

    /// What a token for this user carries.
    pub fn subject(&self) -> Subject {
        Subject {
            user_id: self.id,
            username: self.username.clone(),
            role: self.role,
            ver: self.token_version,
            email_verified: self.email_verified,
        }
    }
}

/// A user with the stored hash, for checking a password.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// The columns a change may set; `None` leaves a column as it is.
#[derive(Debug, Default)]
pub struct Changes {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// A new PHC string: also bumps the token version, revoking every earlier token.
    pub password_hash: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// An address to change to once it is confirmed (the `email` stays until then).
    pub pending_email: Option<String>,
}

pub async fn insert(pool: &Pool, user: &NewUser, password_hash: &str, role: Role) -> Result<User, StoreError> {
    write_new(pool, user, password_hash, role, "").await
}

/// Confirms user `id`'s address `address`: its own (now verified) or the one waiting (now its
/// address, verified). `None` when the address is neither (any more).
pub async fn confirm_address(
    client: &impl GenericClient,
    id: UserId,
    address: &str,
) -> Result<Option<Confirmed>, StoreError> {
    let sql = format!(
        "WITH before AS (SELECT email, email_verified FROM users WHERE id = $1 FOR UPDATE)
         UPDATE users SET
            email = CASE WHEN lower(users.pending_email) = lower($2) THEN users.pending_email ELSE users.email END,
            pending_email = CASE WHEN lower(users.pending_email) = lower($2) THEN NULL ELSE users.pending_email END,
            email_verified = TRUE
         FROM before
         WHERE users.id = $1 AND (lower(users.email) = lower($2) OR lower(users.pending_email) = lower($2))
         RETURNING {QUALIFIED_COLUMNS}, before.email AS old_email, before.email_verified AS was_verified"
    );
    let Some(row) = client.query_opt(sql.as_str(), &[&id.0, &address]).await? else {
        return Ok(None);
    };
    Ok(Some(Confirmed {
        user: User::from_row(&row)?,
        old_email: row.try_get("old_email")?,
        was_verified: row.try_get("was_verified")?,
    }))
}

/// What [`confirm_address`] changed.
pub struct Confirmed {
    pub user: User,
    /// The address before: another than the user's now when a waiting change applied.
    pub old_email: String,
    pub was_verified: bool,
}

pub async fn by_id(pool: &Pool, id: UserId) -> Result<Option<User>, StoreError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = $1")).await?;
    client.query_opt(&stmt, &[&id.0]).await?.as_ref().map(User::from_row).transpose()
}

/// The user, and whether session `sid` is one of theirs and still live at `now`: the check of
/// every token, in one round trip.
pub async fn in_session(pool: &Pool, id: UserId, sid: &str, now: u64) -> Result<Option<(User, bool)>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, EXISTS (
                SELECT 1 FROM sessions s
                WHERE s.id = $2 AND s.user_id = users.id AND s.ended_at IS NULL AND s.expires_at > $3
             ) AS live
             FROM users WHERE id = $1"
        ))
        .await?;
    let now = super::secs(now);
    let Some(row) = client.query_opt(&stmt, &[&id.0, &sid, &now]).await? else {
        return Ok(None);
    };
    Ok(Some((User::from_row(&row)?, row.try_get("live")?)))
}

/// `name` as this table compares names: folded by PostgreSQL's own `lower()`, the unique
/// index's function, whatever the database's locale makes of it (a C locale folds ASCII only; a
/// glibc one also Greek, but a final `Σ` to `σ` where Rust gives `ς`). Rust's lower-casing agrees
/// with none of them exactly, and what is one account must be one per-username lock.
pub async fn compared_name(pool: &Pool, name: &str) -> Result<String, StoreError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached("SELECT lower($1::text)").await?;
    Ok(client.query_one(&stmt, &[&name]).await?.try_get(0)?)
}

pub async fn credentials(pool: &Pool, username: &str) -> Result<Option<Credentials>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS}, password FROM users WHERE lower(username) = lower($1)"))
        .await?;
    let Some(row) = client.query_opt(&stmt, &[&username]).await? else {
        return Ok(None);
    };
    Ok(Some(Credentials { user: User::from_row(&row)?, password_hash: row.try_get("password")? }))
}

pub async fn update(pool: &Pool, id: UserId, changes: &Changes) -> Result<Option<User>, StoreError> {
    let client = pool.get().await?;
    update_with(&client, id, changes).await
}

/// [`update`] within the caller's transaction. A new password also voids the user's reset
/// tokens not yet spent.
pub async fn update_with(
    client: &impl GenericClient,
    id: UserId,
    changes: &Changes,
) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "UPDATE users SET
            username = COALESCE($2, username),
            email = COALESCE($3, email),
            -- A new address is unconfirmed, and replaces any change that was waiting.
            email_verified = email_verified AND ($3::text IS NULL OR lower($3) = lower(email)),
            pending_email = CASE WHEN $9::text IS NOT NULL THEN $9
                                 WHEN $3::text IS NOT NULL OR $6::text IS NOT NULL THEN NULL
                                 ELSE pending_email END,
            first_name = COALESCE($4, first_name),
            last_name = COALESCE($5, last_name),
            password = COALESCE($6, password),
            password_timestamp = CASE WHEN $6::text IS NULL THEN password_timestamp
                                      ELSE extract(epoch FROM clock_timestamp()) END,
            token_version = token_version + CASE WHEN $6::text IS NULL THEN 0 ELSE 1 END,
            role = COALESCE($7, role),
            active = COALESCE($8, active)
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let role = changes.role.map(Role::as_str);
    let row = client
        .query_opt(
            sql.as_str(),
            &[
                &id.0,
                &changes.username,
                &changes.email,
                &changes.first_name,
                &changes.last_name,
                &changes.password_hash,
                &role,
                &changes.active,
                &changes.pending_email,
            ],
        )
        .await?;
    if row.is_some() && changes.password_hash.is_some() {
        // A reset link asked for before the password changed must not undo the change.
        super::account_tokens::void_resets(client, id).await?;
    }
    row.as_ref().map(User::from_row).transpose()
}

/// What a change guarded by [`guarding_admins`] came to.
#[derive(Debug)]
pub enum Guarded<T> {
    Done(T),
    NoSuchUser,
    /// It would have left no active admin: nothing was changed.
    LastAdmin,
}

/// Applies `changes` to user `id` (`None`: deletes it) unless that would leave no active admin.
/// The active admins' rows are locked first, so two admins demoting each other at once cannot
/// both succeed.
pub async fn guarding_admins(
    pool: &Pool,
    id: UserId,
    changes: Option<&Changes>,
) -> Result<Guarded<Option<User>>, StoreError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let admins: Vec<i64> = transaction
        .query("SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE", &[])
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let removes_an_admin = match changes {
        None => true,
        Some(changes) => changes.role == Some(Role::User) || changes.active == Some(false),
    };
    if removes_an_admin && admins == [id.0] {
        return Ok(Guarded::LastAdmin);
    }
    let outcome = match changes {
        Some(changes) => update_with(&transaction, id, changes).await?.map(Some),
        None => {
            let deleted = transaction.execute("DELETE FROM users WHERE id = $1", &[&id.0]).await?;
            (deleted == 1).then_some(None)
        }
    };
    transaction.commit().await?;
    Ok(outcome.map_or(Guarded::NoSuchUser, Guarded::Done))
}

/// Whether another user than `except` has `email` as their address.
pub async fn email_taken(pool: &Pool, email: &str, except: UserId) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1) AND id <> $2)")
        .await?;
    Ok(client.query_one(&stmt, &[&email, &except.0]).await?.try_get(0)?)
}

/// The stored hash of user `id`, for checking a current password.
pub async fn password_hash(pool: &Pool, id: UserId) -> Result<Option<String>, StoreError> {
    let client = pool.get().await?;
    let row = client.query_opt("SELECT password FROM users WHERE id = $1", &[&id.0]).await?;
    row.map(|row| row.try_get("password")).transpose().map_err(StoreError::from)
}

/// Replaces the hash `verified` with a stronger one of the same password: tokens stay valid. Only
/// if it is still the stored one: a password change in between must not be undone.
pub async fn rehash(pool: &Pool, id: UserId, verified: &str, stronger: &str) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute("UPDATE users SET password = $3 WHERE id = $1 AND password = $2", &[&id.0, &verified, &stronger])
        .await?;
    Ok(())
}

pub async fn delete(pool: &Pool, id: UserId) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    Ok(client.execute("DELETE FROM users WHERE id = $1", &[&id.0]).await? == 1)
}

/// Where a page of the user list starts.
#[derive(Debug, Clone, Copy)]
pub enum PageStart {
    /// After skipping this many users (the seed's `offset`): the database walks what it skips.
    Offset(i64),
    /// After the user with this id (keyset): an index seek, as fast at the last page as the first.
    AfterId(i64),
}

/// `limit` users by id from `start`.
pub async fn list(pool: &Pool, limit: i64, start: PageStart) -> Result<Vec<User>, StoreError> {
    let client = pool.get().await?;
    let (tail, value) = match start {
        PageStart::Offset(offset) => ("ORDER BY id LIMIT $1 OFFSET $2", offset),
        PageStart::AfterId(id) => ("WHERE id > $2 ORDER BY id LIMIT $1", id),
    };
    let stmt = client.prepare_cached(&format!("SELECT {COLUMNS} FROM users {tail}")).await?;
    client.query(&stmt, &[&limit, &value]).await?.iter().map(User::from_row).collect()
}

/// Makes `username` an admin, creating it when missing; the password is set either way.
pub async fn upsert_admin(pool: &Pool, user: &NewUser, password_hash: &str) -> Result<User, StoreError> {
    let promote = "ON CONFLICT (lower(username)) DO UPDATE SET
            role = 'admin', active = TRUE, password = EXCLUDED.password,
            password_timestamp = extract(epoch FROM clock_timestamp()),
            token_version = users.token_version + 1, email_verified = TRUE";
    write_new(pool, user, password_hash, Role::Admin, promote).await
}

/// Inserts `user`; `on_conflict` says what to do when the name exists (empty: the insert fails).
async fn write_new(
    pool: &Pool,
    user: &NewUser,
    password_hash: &str,
    role: Role,
    on_conflict: &str,
) -> Result<User, StoreError> {
    let client = pool.get().await?;
    let sql = format!(
        "INSERT INTO users (username, password, email, first_name, last_name, role, email_verified)
         VALUES ($1, $2, $3, $4, $5, $6, $7) {on_conflict} RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &sql,
            &[
                &user.username.as_ref(),
                &password_hash,
                &user.email.as_ref(),
                &user.first_name.as_ref(),
                &user.last_name.as_ref(),
                &role.as_str(),
                // An admin made from the command line is trusted with its address.
                &(role == Role::Admin),
            ],
        )
        .await?;
    User::from_row(&row)
}
