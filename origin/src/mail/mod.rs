//! Mail: what the account lifecycle sends (reset and verify links, notices), how, and when.
//!
//! Requests never talk to SMTP. They queue an intent in the outbox (`db::outbox`) and return;
//! [`delivery`] sends it, minting the link's token only then (so no stored value is a token),
//! and retries with backoff until the mail is sent or too old. [`templates`] renders a mail from
//! the repository's text and HTML templates; [`smtp`] is the [`Mailer`] that speaks SMTP.

pub mod delivery;
pub mod smtp;
pub mod templates;

use std::future::Future;
use std::pin::Pin;

/// A rendered mail, ready to send.
#[derive(Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

// The body of a link mail holds a token: it must never reach a log through `{:?}`.
impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// Mail, when it is on: the settings, the way out, and the delivery worker's bell.
pub struct MailService {
    pub settings: MailSettings,
    pub mailer: std::sync::Arc<dyn Mailer>,
    /// Rung when a request queues a mail, so it goes out at once rather than at the next poll.
    pub queued: tokio::sync::Notify,
}

/// Why a mail was not handed over; the delivery worker retries it later.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

/// Something that delivers a [`Mail`]: SMTP in production ([`smtp::SmtpMailer`]).
pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, mail: &'a Mail) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;
}

/// The mail configuration: `SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`, `MAIL_MAX_AGE_SECS` and
/// `MAIL_RETRY_SECS`. Without `SMTP_URL` mail is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// `smtp://host:port` (plain, for a local catcher), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465` (TLS), as lettre reads it.
    pub smtp_url: String,
    /// The sender, e.g. `jwt-auth <no-reply@example.com>`.
    pub from: String,
    /// The base of every link in a mail, without a trailing slash; never the request's `Host`.
    pub public_url: String,
    /// How long a mail that fails to go out is retried before it is given up (default a day).
    pub max_age_secs: u64,
    /// The wait after a first failed delivery; it doubles with each failure, up to
    /// [`MailSettings::MAX_RETRY_SECS`].
    pub retry_secs: u64,
}

impl MailSettings {
    pub const DEFAULT_MAX_AGE_SECS: u64 = 24 * 3600;
    pub const DEFAULT_RETRY_SECS: u64 = 10;
    pub const MAX_RETRY_SECS: u64 = 15 * 60;
    pub const DEFAULT_FROM: &str = "jwt-auth <no-reply@localhost>";

    /// Reads the settings; `get` gives a variable's trimmed, non-empty value. `None`: mail is off.
    ///
    /// # Errors
    /// A setting that cannot work, naming its variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let Some(smtp_url) = get("SMTP_URL") else {
            return Ok(None);
        };
        if !(smtp_url.starts_with("smtp://") || smtp_url.starts_with("smtps://")) {
            return Err("SMTP_URL must start with smtp:// or smtps:// (e.g. smtp://127.0.0.1:1025)".into());
        }
        let public_url = get("PUBLIC_URL").ok_or(
            "PUBLIC_URL must be set when SMTP_URL is: the base of the links in mails, e.g. https://auth.example.com",
        )?;
        let public_url = public_url.trim_end_matches('/').to_owned();
        let well_formed = ["http://", "https://"]
            .iter()
            .any(|scheme| public_url.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()))
            && !public_url.contains(['?', '#', ' ']);
        if !well_formed {
            return Err(format!("PUBLIC_URL={public_url} must be an http:// or https:// address without ? or #"));
        }
        let from = get("MAIL_FROM").unwrap_or_else(|| Self::DEFAULT_FROM.into());
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(format!("MAIL_FROM={from} is not a mailbox (e.g. jwt-auth <no-reply@example.com>)"));
        }
        let secs = |name: &str, default: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(raw) => match raw.parse::<u64>() {
                    Ok(value) if (1..=365 * 24 * 3600).contains(&value) => Ok(value),
                    _ => Err(format!("{name}={raw} must be a number of seconds from 1 to a year")),
                },
            }
        };
        Ok(Some(Self {
            smtp_url,
            from,
            public_url,
            max_age_secs: secs("MAIL_MAX_AGE_SECS", Self::DEFAULT_MAX_AGE_SECS)?,
            retry_secs: secs("MAIL_RETRY_SECS", Self::DEFAULT_RETRY_SECS)?,
        }))
    }

    /// The wait after the `failures`-th failed delivery: [`Self::retry_secs`] doubled per earlier
    /// failure, capped.
    pub fn backoff_secs(&self, failures: u32) -> u64 {
        let doubled = self.retry_secs.saturating_mul(1u64 << failures.saturating_sub(1).min(20));
        doubled.min(Self::MAX_RETRY_SECS.max(self.retry_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<MailSettings>, String> {
        MailSettings::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn mail_is_off_without_smtp_url_and_needs_a_public_url_with_it() {
        assert_eq!(settings(&[]), Ok(None));
        let err = settings(&[("SMTP_URL", "smtp://127.0.0.1:1025")]).unwrap_err();
        assert!(err.starts_with("PUBLIC_URL must be set"), "{err}");
        let on = settings(&[("SMTP_URL", "smtp://127.0.0.1:1025"), ("PUBLIC_URL", "https://auth.example.com/")])
            .unwrap()
            .unwrap();
        assert_eq!(on.public_url, "https://auth.example.com");
        assert_eq!(on.from, MailSettings::DEFAULT_FROM);
        assert_eq!(on.max_age_secs, 24 * 3600);
        for bad in ["auth.example.com", "https://", "https://x/?a=b", "ftp://x"] {
            assert!(settings(&[("SMTP_URL", "smtp://h:25"), ("PUBLIC_URL", bad)]).is_err(), "{bad}");
        }
        assert!(settings(&[("SMTP_URL", "http://h"), ("PUBLIC_URL", "https://x")]).is_err());
        assert!(settings(&[("SMTP_URL", "smtp://h"), ("PUBLIC_URL", "https://x"), ("MAIL_FROM", "nobody")]).is_err());
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let on = settings(&[("SMTP_URL", "smtp://h:25"), ("PUBLIC_URL", "https://x"), ("MAIL_RETRY_SECS", "10")])
            .unwrap()
            .unwrap();
        let waits: Vec<u64> = (1..=9).map(|n| on.backoff_secs(n)).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(on.backoff_secs(u32::MAX), 900);
    }
}
