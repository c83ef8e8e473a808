//! The mails' words, from the repository's templates (`origin/assets/mail/<kind>.{subject,txt,html}`,
//! compiled in): `{{name}}` placeholders filled with the mail's values, HTML-escaped in the HTML
//! part. A kind's HTML is only its paragraphs; `layout.html` is the page around every mail's
//! (`{{subject}}`, `{{content}}`). A template naming a value the mail does not give is a test
//! failure, not a blank.

use crate::db::outbox::MailKind;

use super::Mail;

const LAYOUT: &str = include_str!("../../assets/mail/layout.html");

struct Template {
    subject: &'static str,
    text: &'static str,
    html: &'static str,
}

macro_rules! template {
    ($name:literal) => {
        Template {
            subject: include_str!(concat!("../../assets/mail/", $name, ".subject")),
            text: include_str!(concat!("../../assets/mail/", $name, ".txt")),
            html: include_str!(concat!("../../assets/mail/", $name, ".html")),
        }
    };
}

fn template(kind: MailKind) -> Template {
    match kind {
        MailKind::ResetPassword => template!("reset_password"),
        MailKind::VerifyEmail => template!("verify_email"),
        MailKind::PasswordChanged => template!("password_changed"),
        MailKind::EmailChangeRequested => template!("email_change_requested"),
        MailKind::EmailChanged => template!("email_changed"),
        MailKind::MfaEnabled => template!("mfa_enabled"),
        MailKind::MfaDisabled => template!("mfa_disabled"),
        MailKind::RecoveryCodeUsed => template!("recovery_code_used"),
        MailKind::MfaFailures => template!("mfa_failures"),
    }
}

/// The mail of `kind` to `to`, with `values` (name, value) in place of its placeholders.
pub fn render(kind: MailKind, to: &str, values: &[(&str, &str)]) -> Mail {
    let template = template(kind);
    let subject = fill(template.subject.trim(), values, |v| v.replace(['\r', '\n'], " "));
    let content = fill(template.html, values, escape_html);
    // Split first: a value that reads `{{content}}` must stay text.
    let (head, tail) = LAYOUT.split_once("{{content}}").unwrap_or((LAYOUT, ""));
    let html = format!("{}{content}{tail}", head.replacen("{{subject}}", &escape_html(&subject), 1));
    Mail { to: to.to_owned(), html, text: fill(template.text, values, str::to_owned), subject }
}

fn fill(template: &str, values: &[(&str, &str)], escape: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 128);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(key, _)| *key == name) {
                    Some((_, value)) => out.push_str(&escape(value)),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values each kind's mail is given by the delivery worker.
    fn values(kind: MailKind) -> Vec<(&'static str, &'static str)> {
        let mut values = vec![("username", "al<i>ce")];
        match kind {
            MailKind::ResetPassword => {
                values.extend([("link", "https://x/reset-password#token=t&u"), ("minutes", "30")])
            }
            MailKind::VerifyEmail => {
                values.extend([("link", "https://x/verify#token=t"), ("hours", "24"), ("email", "a@x.org")]);
            }
            MailKind::PasswordChanged | MailKind::MfaEnabled => values.push(("when", "2026-12-03 06:00 UTC")),
            MailKind::MfaDisabled | MailKind::RecoveryCodeUsed | MailKind::MfaFailures => {
                values.extend([("when", "2026-12-03 06:00 UTC"), ("detail", "5")]);
            }
            MailKind::EmailChangeRequested | MailKind::EmailChanged => values.push(("new_email", "b@x.org")),
        }
        values
    }

    #[test]
    fn every_placeholder_of_every_template_is_filled() {
        for kind in MailKind::ALL {
            let mail = render(kind, "a@x.org", &values(kind));
            for part in [&mail.subject, &mail.text, &mail.html] {
                assert!(!part.contains("{{"), "{kind:?} leaves a placeholder: {part}");
            }
            assert!(!mail.subject.is_empty() && !mail.subject.contains('\n'), "{kind:?}");
            assert!(mail.text.contains("al<i>ce"), "{kind:?}: the text part is not escaped");
            assert!(mail.html.contains("al&lt;i&gt;ce") && !mail.html.contains("al<i>ce"), "{kind:?}: html");
        }
        for kind in MailKind::ALL {
            let mail = render(kind, "a@x.org", &values(kind));
            assert!(mail.html.starts_with("<!DOCTYPE html>") && mail.html.trim_end().ends_with("</html>"), "{kind:?}");
            assert!(mail.html.contains(&format!("<title>{}</title>", escape_html(&mail.subject))), "{kind:?}");
        }
        let reset = render(MailKind::ResetPassword, "a@x.org", &values(MailKind::ResetPassword));
        assert!(reset.text.contains("https://x/reset-password#token=t&u"));
        assert!(reset.html.contains("https://x/reset-password#token=t&amp;u"));
    }

    #[test]
    fn an_unknown_or_broken_placeholder_stays_as_written() {
        assert_eq!(fill("a {{b}} {{c", &[("x", "y")], str::to_owned), "a {{b}} {{c");
        assert_eq!(fill("{{x}}{{x}}", &[("x", "y")], str::to_owned), "yy");
    }
}
