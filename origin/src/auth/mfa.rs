//! The second factor: a TOTP factor with recovery codes ([`shared::mfa`] has the rules), its
//! enrolment and removal, and the step-up of a login (`mfa_token`, then a code). A code's time
//! step is accepted once per factor and a recovery code spent once, each by one atomic statement;
//! a wrong code counts as a failed login in every tier of [`super::limits`], and the 5th kills the
//! `mfa_token`. Every change is audited and mailed to the owner.

use shared::api::{GivenFactor, MfaEnrolment, MfaLogin, MfaStatus};
use shared::assurance::{Aal, SecondFactor};
use shared::domain::UserId;
use shared::mfa::{self, MAX_WRONG_CODES, MFA_TOKEN_TTL_SECS};
use shared::policy::Password;
use shared::token::{TokenService, VerifiedToken};
use totp_rs::{Algorithm, Builder, Totp};

use super::limits::{self, Attempt, Claim};
use super::sessions::{self, Admitted, SignedIn};
use super::{AuthError, Caller, password};
use crate::db::mfa as store;
use crate::db::mfa::Factor;
use crate::db::outbox::{self, MailKind};
use crate::db::sessions as session_store;
use crate::db::sessions::EndReason;
use crate::db::users::{self, User};
use crate::db::{StoreError, audit, devices};
use crate::sealing::SealingKeys;
use crate::state::AppState;

/// Whether the user has a confirmed factor, and how many recovery codes are left.
pub async fn status(state: &AppState, user: &User) -> Result<MfaStatus, AuthError> {
    let totp = store::confirmed(&state.pool, user.id).await?.is_some();
    let recovery_codes_left = if totp { store::codes_left(&state.pool, user.id).await? } else { 0 };
    Ok(MfaStatus { totp, recovery_codes_left })
}

/// Begins an enrolment: a new secret, shown once. A user who has a factor already replaces it only
/// from a session that gave it (`aal2`).
pub async fn enrol(
    state: &AppState,
    user: &User,
    token: &VerifiedToken,
    current: Password,
    caller: &Caller,
) -> Result<MfaEnrolment, AuthError> {
    let keys = keys(state)?;
    if token.assurance.aal() != Aal::Aal2 && store::confirmed(&state.pool, user.id).await?.is_some() {
        return Err(AuthError::InsufficientUserAuthentication);
    }
    password::confirm_current(state, user, current, caller).await?;
    let mut secret = [0u8; mfa::SECRET_BYTES];
    random(&mut secret);
    let id = TokenService::random_id();
    let factor = Factor {
        sealed: keys.seal(&secret, &context(user.id, &id)),
        id,
        user_id: user.id,
        created_at: state.clock.now(),
        confirmed: false,
    };
    store::begin(&state.pool, &factor).await?;
    let totp = totp(secret.to_vec(), &user.username)?;
    let otpauth_uri = totp.to_url().map_err(|err| AuthError::Mfa(format!("otpauth URI: {err:?}")))?;
    Ok(MfaEnrolment { secret: totp.secret().to_base32(), otpauth_uri })
}

/// What a confirmation gives: the recovery codes, and this session lifted to `aal2`.
pub struct Confirmed {
    pub recovery_codes: Vec<String>,
    pub signed_in: SignedIn,
}

/// Confirms the enrolment in progress with its first code: the factor guards the logins from now
/// on, every other session and device token of the user ends, and this session is lifted.
pub async fn confirm(
    state: &AppState,
    user: &User,
    token: &VerifiedToken,
    code: &str,
    caller: &Caller,
) -> Result<Confirmed, AuthError> {
    let now = state.clock.now();
    let code = mfa::totp_code(code).ok_or(AuthError::MfaBadCode)?;
    let factor = store::pending(&state.pool, user.id, now.saturating_sub(mfa::ENROLMENT_TTL_SECS))
        .await?
        .ok_or(AuthError::NoSuchFactor)?;
    let secret = open(state, &factor)?;
    let step = totp(secret, &user.username)?.check(&code, now).ok_or(AuthError::MfaBadCode)?;
    let (codes, digests) = recovery_codes();
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    if !store::confirm(&transaction, &factor, step, now, &digests).await? {
        return Err(AuthError::NoSuchFactor);
    }
    // The session ended meanwhile: nothing is kept (the transaction rolls back).
    let ticket = session_store::lift(&transaction, &token.sid, user.id, SecondFactor::Totp, now)
        .await?
        .ok_or(AuthError::InvalidToken)?;
    session_store::end_others(&transaction, user.id, &token.sid, EndReason::SecondFactor).await?;
    notice(state, &transaction, user, MailKind::MfaEnabled, "", now).await?;
    transaction.commit().await?;
    drop(client);
    devices::forget_all(&state.pool, user.id).await?;
    state.mail_queued();
    state.audit(event(audit::Kind::MfaEnabled, user.id, caller, "totp")).await;
    Ok(Confirmed { recovery_codes: codes, signed_in: SignedIn { user: user.clone(), ticket, device_token: None } })
}

/// Turns the second factor off: from a session that gave it, with the current password.
pub async fn disable(
    state: &AppState,
    user: &User,
    token: &VerifiedToken,
    current: Password,
    caller: &Caller,
) -> Result<(), AuthError> {
    let factor = guarded_change(state, user, token, current, caller).await?;
    store::remove(&state.pool, factor.user_id).await?;
    queue_notice(state, user, MailKind::MfaDisabled, "by you").await?;
    state.audit(event(audit::Kind::MfaDisabled, user.id, caller, "by the user")).await;
    Ok(())
}

/// New recovery codes, the old set void: from a session that gave the second factor, with the
/// current password.
pub async fn regenerate_codes(
    state: &AppState,
    user: &User,
    token: &VerifiedToken,
    current: Password,
    caller: &Caller,
) -> Result<Vec<String>, AuthError> {
    let factor = guarded_change(state, user, token, current, caller).await?;
    let (codes, digests) = recovery_codes();
    let client = state.pool.get().await?;
    store::replace_codes(&client, user.id, &factor.id, &digests).await?;
    state.audit(event(audit::Kind::RecoveryCodesRegenerated, user.id, caller, "")).await;
    Ok(codes)
}

/// An admin removes user `id`'s factor (a user who lost the app and the codes); the user's
/// sessions end.
pub async fn remove_by_admin(state: &AppState, admin: &User, id: UserId, caller: &Caller) -> Result<(), AuthError> {
    let user = users::by_id(&state.pool, id).await?.ok_or(AuthError::NoSuchUser)?;
    if store::remove(&state.pool, user.id).await? == 0 {
        return Err(AuthError::NoSuchFactor);
    }
    session_store::end_all(&state.pool, user.id, EndReason::Admin).await?;
    queue_notice(state, &user, MailKind::MfaDisabled, "by an administrator").await?;
    let event =
        audit::Event { actor_id: Some(admin.id), ..event(audit::Kind::MfaDisabled, user.id, caller, "by an admin") };
    state.audit(event).await;
    Ok(())
}

/// The factor a change of the second factor concerns, once the session gave it and the current
/// password is right.
async fn guarded_change(
    state: &AppState,
    user: &User,
    token: &VerifiedToken,
    current: Password,
    caller: &Caller,
) -> Result<Factor, AuthError> {
    let factor = store::confirmed(&state.pool, user.id).await?.ok_or(AuthError::NoSuchFactor)?;
    if token.assurance.aal() != Aal::Aal2 {
        return Err(AuthError::InsufficientUserAuthentication);
    }
    password::confirm_current(state, user, current, caller).await?;
    Ok(factor)
}

/// After the right password of a user with a factor: the login waits for the second factor. The
/// `mfa_token` (random, only its digest stored) carries what the login brought.
pub async fn challenge(state: &AppState, user: &User, admitted: &Admitted) -> Result<AuthError, AuthError> {
    let token = TokenService::random_secret();
    let digest = shared::secret::digest(&token).ok_or(AuthError::InvalidToken)?;
    let expires_at = state.clock.now() + MFA_TOKEN_TTL_SECS;
    store::open_challenge(&state.pool, &digest, user.id, expires_at, admitted.device, admitted.source.as_deref())
        .await?;
    Ok(AuthError::MfaRequired(Some(token)))
}

/// Whether a user has a confirmed factor.
pub async fn has_factor(state: &AppState, user: UserId) -> Result<bool, AuthError> {
    Ok(store::confirmed(&state.pool, user).await?.is_some())
}

/// `POST /auth/mfa`: the login an `mfa_token` waits for, completed by its second factor.
pub async fn complete_login(state: &AppState, body: &MfaLogin, caller: &Caller) -> Result<SignedIn, AuthError> {
    let given = GivenFactor::parse(body.code.as_deref(), body.recovery_code.as_deref())?.ok_or_else(|| {
        AuthError::Invalid(vec![shared::error::FieldError::body("code", "missing", "Give code or recovery_code")])
    })?;
    let digest = shared::secret::digest(&body.mfa_token).ok_or(AuthError::MfaTokenInvalid)?;
    let now = state.clock.now();
    let challenge =
        store::challenge(&state.pool, &digest, now, MAX_WRONG_CODES).await?.ok_or(AuthError::MfaTokenInvalid)?;
    let user = match users::by_id(&state.pool, challenge.user_id).await? {
        Some(user) if user.active => user,
        _ => return Err(AuthError::MfaTokenInvalid),
    };
    let factor = store::confirmed(&state.pool, user.id).await?.ok_or(AuthError::MfaTokenInvalid)?;
    let mut attempt = begin_attempt(state, &user, caller).await?;
    let verified = check(state, &user, &factor, &given, now).await?;
    attempt.settle(state, verified.is_some()).await?;
    let Some(kind) = verified else {
        let failures = store::fail_challenge(&state.pool, &digest).await?;
        state.audit(event(audit::Kind::LoginFailed, user.id, caller, "wrong second factor")).await;
        if failures == MAX_WRONG_CODES {
            queue_notice(state, &user, MailKind::MfaFailures, &failures.to_string()).await?;
        }
        return Err(AuthError::MfaBadCode);
    };
    if !store::spend_challenge(&state.pool, &digest, now).await? {
        return Err(AuthError::MfaTokenInvalid);
    }
    if kind == SecondFactor::RecoveryCode {
        let left = recovery_code_used(state, &user).await?;
        state.audit(event(audit::Kind::RecoveryCodeUsed, user.id, caller, &format!("{left} left"))).await;
    }
    let admitted = Admitted { device: challenge.device_id, source: challenge.source, device_token: None };
    sessions::open_session(state, user, admitted, kind, caller).await
}

/// The second factor a password reset of a user with a factor must bring (ASVS 6.4.3: a reset
/// never bypasses it). `Ok` with nothing to check for a user without one.
pub async fn check_for_reset(
    state: &AppState,
    user: &User,
    code: Option<&str>,
    recovery_code: Option<&str>,
    caller: &Caller,
) -> Result<(), AuthError> {
    let Some(factor) = store::confirmed(&state.pool, user.id).await? else {
        return Ok(());
    };
    let given = GivenFactor::parse(code, recovery_code)?.ok_or(AuthError::MfaRequired(None))?;
    let mut attempt = begin_attempt(state, user, caller).await?;
    let verified = check(state, user, &factor, &given, state.clock.now()).await?;
    attempt.settle(state, verified.is_some()).await?;
    match verified {
        Some(SecondFactor::RecoveryCode) => {
            recovery_code_used(state, user).await?;
            Ok(())
        }
        Some(_) => Ok(()),
        None => Err(AuthError::MfaBadCode),
    }
}

/// Tells the owner a recovery code was spent, and how many are left; the count.
async fn recovery_code_used(state: &AppState, user: &User) -> Result<i64, AuthError> {
    let left = store::codes_left(&state.pool, user.id).await?;
    queue_notice(state, user, MailKind::RecoveryCodeUsed, &format!("{left} recovery codes are left.")).await?;
    Ok(left)
}

/// A second factor counts as a login attempt: held back as one, counted as one.
async fn begin_attempt(state: &AppState, user: &User, caller: &Caller) -> Result<Attempt, AuthError> {
    let claim =
        Claim { username: &user.username, user: Some(user.id), ip: caller.ip, device: None, account_tier: true };
    limits::begin_login(state, claim).await
}

/// Which factor `given` is, if right: a TOTP code of a step not accepted before, or an unspent
/// recovery code of the user's.
async fn check(
    state: &AppState,
    user: &User,
    factor: &Factor,
    given: &GivenFactor,
    now: u64,
) -> Result<Option<SecondFactor>, AuthError> {
    Ok(match given {
        GivenFactor::Totp(code) => {
            let secret = open(state, factor)?;
            match totp(secret, &user.username)?.check(code, now) {
                Some(step) if store::accept_step(&state.pool, &factor.id, step).await? => Some(SecondFactor::Totp),
                _ => None,
            }
        }
        GivenFactor::RecoveryCode(digest) => {
            store::spend_code(&state.pool, user.id, digest, now).await?.then_some(SecondFactor::RecoveryCode)
        }
        GivenFactor::Malformed => None,
    })
}

fn keys(state: &AppState) -> Result<&SealingKeys, AuthError> {
    state.mfa_keys.as_deref().ok_or(AuthError::MfaUnavailable)
}

/// The factor's secret, opened.
fn open(state: &AppState, factor: &Factor) -> Result<Vec<u8>, AuthError> {
    keys(state)?.open(&factor.sealed, &context(factor.user_id, &factor.id)).ok_or_else(|| {
        AuthError::Mfa(format!("the secret of factor {} does not open under MFA_ENCRYPTION_KEYS", factor.id))
    })
}

/// What a sealed secret is bound to: its user and its factor.
fn context(user: UserId, factor: &str) -> Vec<u8> {
    format!("mfa_factors:{}:{factor}", user.0).into_bytes()
}

fn totp(secret: Vec<u8>, username: &str) -> Result<Totp, AuthError> {
    // An authenticator app shows `issuer:account`; a `:` in the account would split it.
    let account = username.replace(':', "_");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(mfa::DIGITS)
        .with_skew(u16::from(mfa::SKEW_STEPS))
        .with_step_duration(mfa::STEP_SECS)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(mfa::ISSUER))
        .build()
        .map_err(|err| AuthError::Mfa(format!("TOTP: {err:?}")))
}

/// Ten new recovery codes, as shown and as stored.
fn recovery_codes() -> (Vec<String>, Vec<[u8; 32]>) {
    (0..mfa::RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; mfa::RECOVERY_CODE_BYTES];
            random(&mut bytes);
            let code = mfa::recovery_code(&bytes);
            // A code just made always has a digest.
            let digest = mfa::recovery_code_digest(&code).unwrap_or_default();
            (code, digest)
        })
        .unzip()
}

fn random(bytes: &mut [u8]) {
    #[allow(clippy::expect_used, reason = "no entropy is a broken machine, not a request's failure")]
    getrandom::fill(bytes).expect("the operating system's random generator");
}

async fn notice(
    state: &AppState,
    client: &impl deadpool_postgres::GenericClient,
    user: &User,
    kind: MailKind,
    detail: &str,
    now: u64,
) -> Result<(), StoreError> {
    if state.mail.is_some() {
        outbox::queue(client, user.id, kind, &user.email, detail, now).await?;
    }
    Ok(())
}

async fn queue_notice(state: &AppState, user: &User, kind: MailKind, detail: &str) -> Result<(), AuthError> {
    let client = state.pool.get().await?;
    notice(state, &client, user, kind, detail, state.clock.now()).await?;
    state.mail_queued();
    Ok(())
}

fn event(kind: audit::Kind, user: UserId, caller: &Caller, detail: &str) -> audit::Event {
    audit::Event { client_ip: caller.ip, detail: detail.to_owned(), ..audit::Event::new(kind, Some(user)) }
}
