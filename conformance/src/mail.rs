//! What MailDev received (`--maildev URL`): its REST API lists every mail it holds in the order
//! they came (`GET /api/email`), each with `to[].address`, `subject`, `text` and `html`. The mail
//! steps read the token of a link from it, as a user would from their inbox.

use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Client, Request};

/// How long a mail may take to arrive: the origin sends it at once, MailDev keeps it at once.
const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(200);

/// A link's token: 64 lowercase hex digits.
const TOKEN_LEN: usize = 64;

pub struct MailDev {
    /// Its web address (scheme, host, port), where `/api/email` is.
    base: String,
}

impl MailDev {
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned() }
    }

    /// Every mail MailDev holds, oldest first.
    fn mails(&self, client: &Client) -> Result<Vec<Value>, String> {
        let request = Request { method: "GET", path: "/api/email".to_owned(), headers: Vec::new(), body: None };
        let response = client.send(&self.base, &request).map_err(|e| format!("MailDev at {}: {e}", self.base))?;
        if response.status != 200 {
            return Err(format!("MailDev at {}: GET /api/email answered {}", self.base, response.status));
        }
        match serde_json::from_slice(&response.body) {
            Ok(Value::Array(mails)) => Ok(mails),
            _ => Err(format!("MailDev at {}: GET /api/email is not a JSON list", self.base)),
        }
    }

    /// The token of the newest link to `page` mailed to `to`, once one is there; an error after
    /// [`WAIT`] without one.
    pub fn wait_for_link(&self, client: &Client, to: &str, page: &str) -> Result<String, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let mails = self.mails(client)?;
            let to_them: Vec<&Value> = mails.iter().filter(|mail| is_for(mail, to)).collect();
            if let Some(token) = to_them.iter().rev().find_map(|mail| link_token(mail, page)) {
                return Ok(token);
            }
            if Instant::now() >= deadline {
                let subjects: Vec<&str> = to_them.iter().filter_map(|mail| mail["subject"].as_str()).collect();
                return Err(format!(
                    "no mail to {to} with a {page}#token= link within {} s; MailDev holds {} mails, to that \
                     address {subjects:?}",
                    WAIT.as_secs(),
                    mails.len()
                ));
            }
            sleep(POLL);
        }
    }
}

/// Whether `to` is among the mail's `To:` addresses.
fn is_for(mail: &Value, to: &str) -> bool {
    mail["to"].as_array().is_some_and(|list| {
        list.iter().any(|entry| entry["address"].as_str().is_some_and(|address| address.eq_ignore_ascii_case(to)))
    })
}

/// The token after `{page}#token=` in the mail's text, else in its HTML.
fn link_token(mail: &Value, page: &str) -> Option<String> {
    let marker = format!("{page}#token=");
    ["text", "html"].into_iter().filter_map(|part| mail[part].as_str()).find_map(|body| {
        let at = body.find(&marker)? + marker.len();
        let token: String = body[at..].chars().take_while(char::is_ascii_hexdigit).collect();
        (token.len() == TOKEN_LEN).then_some(token)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_links_token_is_read_from_the_text_or_the_html_of_a_mail_to_that_address() {
        let token = "0123456789abcdef".repeat(4);
        let mail = json!({
            "to": [{"address": "A.User@example.com", "name": ""}],
            "subject": "Reset your password",
            "text": format!("Open this link:\n\nhttps://auth.example.com/reset-password#token={token}\n\nBye"),
        });
        assert!(is_for(&mail, "a.user@example.com"));
        assert!(!is_for(&mail, "someone@example.com"));
        assert_eq!(link_token(&mail, "/reset-password"), Some(token.clone()));
        assert_eq!(link_token(&mail, "/verify"), None);
        let html_only = json!({"html": format!(r#"<a href="https://x/verify#token={token}">confirm</a>"#)});
        assert_eq!(link_token(&html_only, "/verify"), Some(token));
        let short = json!({"text": "https://x/verify#token=abc"});
        assert_eq!(link_token(&short, "/verify"), None);
    }
}
