//! Sessions: one per login, a family of tokens sharing its `sid`. A session starts at a login,
//! moves to its next generation at each refresh (a spent refresh token presented again ends it:
//! reuse means theft), and ends at a logout, a password change or an admin's word. Ending a session
//! stops its access tokens at once ([`super::access::authorize`] checks the `sid`).

use deadpool_postgres::Transaction;
use shared::api::TokenPair;
use shared::assurance::{Assurance, SecondFactor};
use shared::contract::Grant;
use shared::domain::TokenKind;
use shared::session::Ticket;
use shared::token::{TokenService, VerifiedToken};

use super::limits::{self, Limit};
use super::{AuthError, Caller, access};
use crate::db::sessions::{self, EndReason, NewSession, Rotation, RotationRules, Session};
use crate::db::users::User;
use crate::db::{StoreError, audit, devices};
use crate::state::AppState;

/// A user let in: whom to issue a pair for, and which generation of which session.
pub struct SignedIn {
    pub user: User,
    pub ticket: Ticket,
    /// A login's device token (none for a refresh).
    pub device_token: Option<String>,
}

impl SignedIn {
    /// The pair the public token routes answer with, signed here.
    pub fn token_pair(&self, tokens: &TokenService) -> TokenPair {
        TokenPair { device_token: self.device_token.clone(), ..tokens.issue_pair(&self.user.subject(), &self.ticket) }
    }

    /// What the internal API answers, for the edge to sign: never the hash.
    pub fn into_grant(self) -> Grant {
        Grant {
            user_id: self.user.id.0,
            username: self.user.username,
            role: self.user.role,
            ver: self.user.token_version,
            sid: self.ticket.sid,
            generation: self.ticket.generation,
            issued_at: self.ticket.issued_at,
            second_factor: self.ticket.assurance.factor.as_str().to_owned(),
            auth_time: self.ticket.assurance.auth_time,
            email_verified: self.user.email_verified,
            device_token: self.device_token,
        }
    }
}

/// What a login that passed its password check brought: the known device it came with (and its
/// token, to answer back), and its source as the limits count it.
pub struct Admitted {
    pub device: Option<i64>,
    pub source: Option<String>,
    pub device_token: Option<String>,
}

/// The session a login opens, its device remembered (a new device gets a token).
pub async fn open_session(
    state: &AppState,
    user: User,
    admitted: Admitted,
    factor: SecondFactor,
    caller: &Caller,
) -> Result<SignedIn, AuthError> {
    let (device, device_token) = match admitted.device {
        Some(id) => (devices::Known::Device(id), admitted.device_token),
        None => {
            let token = TokenService::random_secret();
            let digest = shared::secret::digest(&token).ok_or(AuthError::InvalidToken)?;
            (devices::Known::New(digest), Some(token))
        }
    };
    let known = devices::Login {
        user_id: user.id,
        now: state.clock.now(),
        ttl_secs: state.throttles.known_for_secs,
        device,
        source: admitted.source.as_deref(),
        user_agent: &caller.user_agent,
        client_ip: caller.ip,
    };
    devices::remember(&state.pool, known).await?;
    let mut signed_in = start(state, user, factor, caller).await?;
    signed_in.device_token = device_token;
    Ok(signed_in)
}

/// Starts the session a successful login opens (`factor`: the second factor it gave, if any):
/// its first ticket.
pub async fn start(state: &AppState, user: User, factor: SecondFactor, caller: &Caller) -> Result<SignedIn, AuthError> {
    let now = state.clock.now();
    let session = NewSession {
        user_id: user.id,
        now,
        ttl_secs: state.tokens.settings().refresh_ttl_secs,
        user_agent: &caller.user_agent,
        client_ip: caller.ip,
        assurance: Assurance { factor, auth_time: now },
    };
    let ticket = sessions::start(&state.pool, session).await?;
    let event = audit::Event {
        session_id: Some(ticket.sid.clone()),
        client_ip: caller.ip,
        ..audit::Event::new(audit::Kind::LoginSucceeded, Some(user.id))
    };
    state.audit(event).await;
    Ok(SignedIn { user, ticket, device_token: None })
}

/// Spends a refresh token: the user and the ticket of the pair to sign (see
/// [`shared::session::judge`]). Within the grace window (`REFRESH_REUSE_GRACE_SECS`) the token just
/// spent gets that same pair again; after it, or for an older token, the whole session ends.
///
/// One transaction, one commit: the token's checks, the rotation under the session's lock and the
/// per-address count. Held back by the count, nothing of it is kept.
pub async fn rotate(state: &AppState, refresh_token: &str, caller: &Caller) -> Result<SignedIn, AuthError> {
    let now = state.clock.now();
    let mut client = state.pool.get().await.map_err(StoreError::from)?;
    let transaction = client.transaction().await.map_err(StoreError::from)?;
    let spent = match access::verify(state, refresh_token, TokenKind::Refresh, now) {
        Ok(verified) => spend(state, &transaction, verified, now).await?,
        Err(refused) => Spent::Refused(refused),
    };
    limits::rate_in(state, &transaction, Limit::Refresh, caller.ip, now).await?;
    transaction.commit().await.map_err(StoreError::from)?;
    drop(client);
    match spent {
        Spent::Refused(refused) => Err(refused),
        Spent::Rotated { user, rotation: Rotation::Issued(ticket), .. } => {
            Ok(SignedIn { user, ticket, device_token: None })
        }
        Spent::Rotated { user, verified, presented, rotation: Rotation::Reused } => {
            tracing::warn!(user_id = user.id.0, sid = %verified.sid, presented, "refresh token reuse: session ended");
            state.metrics.refresh_reuse_detected();
            let event = audit::Event {
                session_id: Some(verified.sid),
                client_ip: caller.ip,
                detail: format!("generation {presented} presented again"),
                ..audit::Event::new(audit::Kind::RefreshReuseDetected, Some(user.id))
            };
            state.audit(event).await;
            Err(AuthError::InvalidToken)
        }
    }
}

/// What a refresh token did, decided in the refresh's transaction and answered after its commit.
#[allow(clippy::large_enum_variant, reason = "one a request, moved once: boxing would buy nothing")]
enum Spent {
    /// Refused by the token's, the user's or the session's checks.
    Refused(AuthError),
    Rotated {
        user: User,
        verified: VerifiedToken,
        presented: u32,
        rotation: Rotation,
    },
}

/// What a verified refresh token does to its session, in `transaction`.
async fn spend(
    state: &AppState,
    transaction: &Transaction<'_>,
    verified: VerifiedToken,
    now: u64,
) -> Result<Spent, StoreError> {
    let Some(presented) = verified.generation() else {
        return Ok(Spent::Refused(AuthError::InvalidToken));
    };
    let Some((user, live)) = sessions::lock_live(transaction, &verified.sid, verified.subject.user_id, now).await?
    else {
        return Ok(Spent::Refused(AuthError::InvalidToken));
    };
    let user = match access::admit_in_session(user, &verified) {
        Ok(user) => user,
        Err(refused) => return Ok(Spent::Refused(refused)),
    };
    let rules = RotationRules {
        grace_secs: state.refresh_grace_secs,
        ttl_secs: state.tokens.settings().refresh_ttl_secs,
        aal2_max_age_secs: state.aal2_max_age_secs,
    };
    let rotation = sessions::rotate(transaction, &verified.sid, live, presented, now, rules).await?;
    Ok(Spent::Rotated { user, verified, presented, rotation })
}

/// Logout: ends session `sid` of `user`; its access and refresh tokens stop working.
pub async fn end(state: &AppState, user: &User, sid: String, caller: &Caller) -> Result<(), AuthError> {
    sessions::end(&state.pool, user.id, &sid, EndReason::Logout).await?;
    let event = audit::Event {
        session_id: Some(sid),
        client_ip: caller.ip,
        ..audit::Event::new(audit::Kind::Logout, Some(user.id))
    };
    state.audit(event).await;
    Ok(())
}

/// Logout everywhere: ends every session of `user`, and forgets its devices.
pub async fn end_all(state: &AppState, user: &User, caller: &Caller) -> Result<(), AuthError> {
    let ended = sessions::end_all(&state.pool, user.id, EndReason::LogoutAll).await?;
    limits::forget_known(state, user.id, &user.username, "a logout everywhere").await?;
    let event = audit::Event {
        client_ip: caller.ip,
        detail: format!("{ended} sessions ended"),
        ..audit::Event::new(audit::Kind::LogoutAll, Some(user.id))
    };
    state.audit(event).await;
    Ok(())
}

/// The user's live sessions, the most recently used first.
pub async fn live(state: &AppState, user: &User) -> Result<Vec<Session>, AuthError> {
    Ok(sessions::live(&state.pool, user.id, state.clock.now()).await?)
}
