//! The [`Mailer`] that sends through an SMTP relay with lettre (tokio, rustls): a local catcher
//! such as MailDev in development, any relay in production.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Mail, MailSettings, Mailer, SendError};
use crate::telemetry::Chain;

/// How long one delivery may take before it counts as failed (lettre's default is a minute).
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A mailer for `settings`; connects when it first sends.
    ///
    /// # Errors
    /// An `SMTP_URL` or `MAIL_FROM` lettre cannot use.
    pub fn new(settings: &MailSettings) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .map_err(|err| format!("SMTP_URL: {}", Chain(&err)))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from = settings.from.parse().map_err(|err| format!("MAIL_FROM: {err}"))?;
        Ok(Self { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        Box::pin(async move {
            let to: Mailbox = mail.to.parse().map_err(|err| SendError(format!("address: {err}")))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
                .map_err(|err| SendError(format!("building the mail: {err}")))?;
            self.transport.send(message).await.map_err(|err| SendError(Chain(&err).to_string()))?;
            Ok(())
        })
    }
}
