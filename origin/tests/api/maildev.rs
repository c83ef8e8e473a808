//! MailDev for the mail tests: a real SMTP server on 127.0.0.1 that keeps what it is sent, read
//! back through its REST API (`GET /api/email`). Each test starts its own, as
//! `$MAILDEV_NODE $MAILDEV_BIN` (`cargo xtask test` installs the npm package and sets both), on
//! two free ports, in a directory of its own (its TMPDIR, where it keeps the `.eml` files, and its
//! working directory, where it would read a config file).
//!
//! Mail is kept in memory: a restarted MailDev starts with an empty inbox.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;

const POLL: Duration = Duration::from_millis(50);
/// `wait_for` gives up after this many polls: about 10 s.
const WAIT_POLLS: u32 = 200;
/// MailDev answers within a second alone; many tests starting theirs at once take longer: 30 s.
const START_POLLS: u32 = 600;
/// A free port may be taken by another test before MailDev binds it: new ports, a few times.
const START_TRIES: u32 = 3;

/// A mail as MailDev received it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The addresses in its `To:` header.
    pub to: Vec<String>,
    pub subject: String,
    /// The text part; empty if the mail has none.
    pub text: String,
    /// The HTML part as sent; empty if the mail has none.
    pub html: String,
    /// The SMTP envelope's recipients (`RCPT TO`), which `wait_for` also matches.
    envelope_to: Vec<String>,
}

impl Mail {
    fn is_for(&self, address: &str) -> bool {
        self.to.iter().chain(&self.envelope_to).any(|to| to.eq_ignore_ascii_case(address))
    }
}

/// What `GET /api/email` lists (MailDev 3): `to` and `from` are arrays of `{address, name}`,
/// `subject` is always there, `text` and `html` only when the mail has that part.
#[derive(Deserialize)]
struct ApiMail {
    #[serde(default)]
    to: Option<Vec<ApiAddress>>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    envelope: Option<ApiEnvelope>,
}

#[derive(Deserialize)]
struct ApiAddress {
    address: String,
}

#[derive(Deserialize)]
struct ApiEnvelope {
    #[serde(default)]
    to: Option<Vec<ApiAddress>>,
}

impl From<ApiMail> for Mail {
    fn from(mail: ApiMail) -> Self {
        let addresses =
            |list: Option<Vec<ApiAddress>>| list.unwrap_or_default().into_iter().map(|a| a.address).collect();
        Mail {
            to: addresses(mail.to),
            subject: mail.subject.unwrap_or_default(),
            text: mail.text.unwrap_or_default(),
            html: mail.html.unwrap_or_default(),
            envelope_to: addresses(mail.envelope.and_then(|envelope| envelope.to)),
        }
    }
}

/// A running MailDev, killed when dropped.
pub struct MailDev {
    node: PathBuf,
    cli: PathBuf,
    smtp_port: u16,
    web_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    client: reqwest::Client,
}

fn setting(name: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => panic!(
            "{name} is not set: run the tests with `cargo xtask test`, which installs MailDev (npm) \
             and sets MAILDEV_BIN and MAILDEV_NODE, or set MAILDEV_BIN to maildev's CLI script \
             (node_modules/maildev/dist/bin/maildev.js after `npm ci`) and MAILDEV_NODE to a node \
             binary (20 or later)"
        ),
    }
}

/// Two ports nothing listened on a moment ago, told apart by holding both at once.
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    let (a, b) = (bind(), bind());
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

impl MailDev {
    /// Starts MailDev on two free ports and waits until its API answers.
    pub async fn start() -> Self {
        let (node, cli) = (setting("MAILDEV_NODE"), setting("MAILDEV_BIN"));
        let dir = std::env::temp_dir().join(format!("maildev-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        let mut maildev = MailDev {
            node,
            cli,
            smtp_port: 0,
            web_port: 0,
            dir,
            child: None,
            client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
        };
        let mut failure = String::new();
        for _ in 0..START_TRIES {
            (maildev.smtp_port, maildev.web_port) = free_ports();
            match maildev.spawn().await {
                Ok(()) => return maildev,
                Err(error) => failure = error,
            }
        }
        panic!("{failure}");
    }

    /// `smtp://127.0.0.1:PORT`: no TLS, no authentication.
    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp_port)
    }

    fn web_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.web_port)
    }

    /// Every mail received since the start (or the last restart), in the order they came.
    pub async fn messages(&self) -> Vec<Mail> {
        let url = format!("{}/api/email", self.web_url());
        let response = self.client.get(&url).send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
        let mails: Vec<ApiMail> = response.json().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
        mails.into_iter().map(Mail::from).collect()
    }

    /// The mails to `to` (in the `To:` header or the envelope), once there are at least `count`;
    /// polls every 50 ms, and panics after about 10 s with what did arrive.
    #[allow(clippy::disallowed_methods, reason = "polls an external server (MailDev), not our own code")]
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<Mail> {
        self.wait_for_where(to, count, |_| true).await
    }

    /// As [`MailDev::wait_for`], counting only the mails `which` picks.
    #[allow(clippy::disallowed_methods, reason = "polls an external server (MailDev), not our own code")]
    pub async fn wait_for_where(&self, to: &str, count: usize, which: impl Fn(&Mail) -> bool) -> Vec<Mail> {
        let mut mails = Vec::new();
        for _ in 0..WAIT_POLLS {
            mails = self.messages().await;
            let matching: Vec<Mail> = mails.iter().filter(|mail| mail.is_for(to) && which(mail)).cloned().collect();
            if matching.len() >= count {
                return matching;
            }
            tokio::time::sleep(POLL).await;
        }
        let seen: Vec<String> = mails.iter().map(|mail| format!("{:?} to {:?}", mail.subject, mail.to)).collect();
        panic!("MailDev did not get {count} mail(s) to {to} within 10 s; it has {}: {seen:?}", mails.len());
    }

    /// Kills MailDev: its SMTP port refuses connections until [`MailDev::restart`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            // Exits at once on SIGKILL: the wait is for the kernel to reap it.
            child.wait().expect("wait for MailDev");
        }
    }

    /// Starts MailDev again on the same ports, with an empty inbox.
    pub async fn restart(&mut self) {
        self.stop().await;
        if let Err(error) = self.spawn().await {
            panic!("{error}");
        }
    }

    /// Spawns MailDev on the ports set and waits until its API answers; on failure, what it said.
    #[allow(clippy::disallowed_methods, reason = "polls an external server (MailDev), not our own code")]
    async fn spawn(&mut self) -> Result<(), String> {
        let log_path = self.dir.join("maildev.log");
        let log = File::create(&log_path).expect("create maildev.log");
        let child = Command::new(&self.node)
            .arg(&self.cli)
            .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1"])
            .args(["--smtp", &self.smtp_port.to_string(), "--web", &self.web_port.to_string()])
            .env("TMPDIR", &self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("maildev.log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {} {}: {error}", self.node.display(), self.cli.display()));
        let health = format!("{}/api/healthz", self.web_url());
        let child = self.child.insert(child);
        let output = || std::fs::read_to_string(&log_path).unwrap_or_default();
        for _ in 0..START_POLLS {
            if let Some(status) = child.try_wait().expect("MailDev's status") {
                self.child = None;
                return Err(format!("MailDev exited ({status}) at its start; its output:\n{}", output()));
            }
            // MailDev starts its SMTP server before the API: once this answers, both listen.
            if self.client.get(&health).send().await.is_ok_and(|response| response.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        Err(format!("MailDev did not answer {health} within 30 s; its output:\n{}", output()))
    }
}

impl Drop for MailDev {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// MailDev itself, over a plain SMTP conversation: it keeps what it is sent, refuses connections
/// once stopped, and takes mail again on the same port once restarted.
#[tokio::test]
async fn mail_server_takes_mail_and_comes_back_on_the_same_port() {
    let mut maildev = MailDev::start().await;
    let url = maildev.smtp_url();
    let first = send_mail(&url, "alice@example.test", "alice@example.test", "Confirm your address").await;
    let mails = maildev.wait_for("alice@example.test", 1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["alice@example.test"]);
    assert_eq!(mails[0].subject, "Confirm your address");
    assert!(mails[0].text.contains(&first), "text: {:?}", mails[0].text);
    assert!(mails[0].html.contains(&format!("href=\"{first}\"")), "html: {:?}", mails[0].html);
    assert!(mails[0].text.contains("\n.a line that starts with a dot"), "dot-stuffing undone: {:?}", mails[0].text);

    maildev.stop().await;
    let address = url.trim_start_matches("smtp://");
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "SMTP still listens after stop");

    maildev.restart().await;
    assert_eq!(maildev.smtp_url(), url, "restarted on the same port");
    assert!(maildev.messages().await.is_empty(), "a restarted MailDev starts empty");
    send_mail(&url, "alice@example.test", "alice@example.test", "Second").await;
    // Matched on the envelope too: a Bcc recipient is in no header.
    send_mail(&url, "team@example.test", "bob@example.test", "For Bob").await;
    let mails = maildev.wait_for("alice@example.test", 1).await;
    assert_eq!(mails.iter().map(|mail| mail.subject.as_str()).collect::<Vec<_>>(), ["Second"]);
    assert_eq!(maildev.wait_for("BOB@example.test", 1).await[0].subject, "For Bob");
}

/// Sends a text-and-HTML mail to `rcpt_to` with `header_to` in its `To:` header over `smtp_url`
/// by hand (HELO, MAIL FROM, RCPT TO, DATA); returns the link in it.
async fn send_mail(smtp_url: &str, header_to: &str, rcpt_to: &str, subject: &str) -> String {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

    async fn reply(reader: &mut BufReader<tokio::net::TcpStream>, expected: &str) {
        // A reply's last line has a space after the code; `250-` lines go on.
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.expect("an SMTP reply");
            assert!(line.starts_with(expected), "expected {expected}, got {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }
    async fn command(reader: &mut BufReader<tokio::net::TcpStream>, line: &str, expected: &str) {
        reader.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.expect("send an SMTP command");
        reply(reader, expected).await;
    }

    let link = format!("http://127.0.0.1:8787/confirm?token={}", uuid::Uuid::new_v4().simple());
    let body = format!(
        "From: jwt-auth <no-reply@localhost>\r\nTo: <{header_to}>\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nConfirm: {link}\r\n\
         .a line that starts with a dot\r\n\
         --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p><a href=\"{link}\">Confirm</a></p>\r\n--b--\r\n"
    );
    let stream = tokio::net::TcpStream::connect(smtp_url.trim_start_matches("smtp://")).await.expect("connect to SMTP");
    let mut reader = BufReader::new(stream);
    reply(&mut reader, "220").await;
    command(&mut reader, "HELO localhost", "250").await;
    command(&mut reader, "MAIL FROM:<no-reply@localhost>", "250").await;
    command(&mut reader, &format!("RCPT TO:<{rcpt_to}>"), "250").await;
    command(&mut reader, "DATA", "354").await;
    // Dot-stuffing: a line that starts with "." is sent with one more.
    let stuffed = body.replace("\r\n.", "\r\n..");
    command(&mut reader, &format!("{stuffed}."), "250").await;
    command(&mut reader, "QUIT", "221").await;
    link
}
