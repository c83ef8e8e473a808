//! The `account_tokens` table: the digests of the one-time tokens mailed for a password reset or
//! an address confirmation. A token is spent by one `UPDATE ... WHERE used_at IS NULL`, so of any
//! number of concurrent submissions exactly one gets the row back.

use deadpool_postgres::{GenericClient, Pool};
use shared::domain::UserId;

use super::StoreError;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    ResetPassword,
    VerifyEmail,
}

impl Purpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ResetPassword => "reset_password",
            Self::VerifyEmail => "verify_email",
        }
    }
}

/// A token to store as it is mailed.
pub struct NewToken<'a> {
    pub digest: [u8; 32],
    pub user_id: UserId,
    pub purpose: Purpose,
    pub address: &'a str,
    pub expires_at: u64,
}

/// Stores `token`. A new reset token supersedes the user's earlier ones: only the latest works.
pub async fn mint(client: &impl GenericClient, token: &NewToken<'_>) -> Result<(), StoreError> {
    if token.purpose == Purpose::ResetPassword {
        void_resets(client, token.user_id).await?;
    }
    client
        .execute(
            "INSERT INTO account_tokens (digest, user_id, purpose, address, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[
                &token.digest.as_slice(),
                &token.user_id.0,
                &token.purpose.as_str(),
                &token.address,
                &super::secs(token.expires_at),
            ],
        )
        .await?;
    Ok(())
}

/// Voids every reset token of the user not yet spent: a new request or a new password makes them
/// worthless.
pub async fn void_resets(client: &impl GenericClient, user: UserId) -> Result<u64, StoreError> {
    let voided = client
        .execute(
            "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = 'reset_password' AND used_at IS NULL",
            &[&user.0],
        )
        .await?;
    Ok(voided)
}

/// The user and address of the live token `digest` of `purpose`, without spending it: a cheap
/// look before the work a real token deserves (a password hash).
pub async fn live(pool: &Pool, digest: &[u8; 32], purpose: Purpose, now: u64) -> Result<Option<UserId>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT user_id FROM account_tokens
             WHERE digest = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .await?;
    let row = client.query_opt(&stmt, &[&digest.as_slice(), &purpose.as_str(), &super::secs(now)]).await?;
    Ok(row.map(|row| row.try_get("user_id")).transpose()?.map(UserId))
}

/// Spends the live token `digest` of `purpose`: its user and address, or `None` for a token that
/// is unknown, expired, already spent or was superseded (or spent by a concurrent request).
pub async fn spend(
    client: &impl GenericClient,
    digest: &[u8; 32],
    purpose: Purpose,
    now: u64,
) -> Result<Option<(UserId, String)>, StoreError> {
    let row = client
        .query_opt(
            "UPDATE account_tokens SET used_at = $3
             WHERE digest = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id, address",
            &[&digest.as_slice(), &purpose.as_str(), &super::secs(now)],
        )
        .await?;
    row.map(|row| Ok((UserId(row.try_get("user_id")?), row.try_get("address")?))).transpose()
}

/// Deletes the token `digest`: minted for a mail that did not go out.
pub async fn forget(pool: &Pool, digest: &[u8; 32]) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.execute("DELETE FROM account_tokens WHERE digest = $1", &[&digest.as_slice()]).await?;
    Ok(())
}

/// Deletes tokens expired before `now`: spent or not, they can do nothing any more.
pub async fn purge(pool: &Pool, now: u64) -> Result<u64, StoreError> {
    super::purge_batches(pool, "account_tokens", "expires_at < $1", super::secs(now)).await
}
