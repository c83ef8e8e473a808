//! The edge, end to end on real hosts: the origin on a database of its own, and in front of it the
//! Cloudflare build under `wrangler dev` (workerd), the same bundle under `workerd serve` with the
//! compose file's config, and the WASI component under `wasmtime serve` and, where the Spin CLI is
//! at hand (`../shared/tools/spin/install.sh`), under `spin up` with the project's spin.toml, the
//! origin reached through `SPIN_VARIABLE_ORIGIN_URL` on a port of its own. Both builds must be
//! within their size budgets. The origin sends its mail to a MailDev. The conformance suite runs
//! against all four, with each target's own user following the links mailed to it (a password
//! reset, an address confirmed) and turning a second factor on (TOTP, then a login with a recovery
//! code), and proves from the origin's log that forged tokens stay at the edge, and the Postman
//! collection (newman) passes against each. Then the origin and every edge host start again under
//! `REQUIRE_AAL2=admin`, and `conformance --step-up` shows on each that an admin's `aal1` token gets
//! RFC 9470's challenge at the edge, the origin counting none of those requests, and that the
//! same admin's `aal2` token passes once TOTP is on. No log (the origin's, each edge host's) may
//! then hold a secret, a password, a JWT or the token of any link MailDev received, and the
//! origin's metrics must have counted what the edges forwarded. Last, each edge must
//! answer 504 within its timeout while the origin hangs, 502 within 5 s while it is down, and
//! recover, without a restart, once it is back. Then, with the origin's default login limits, the
//! lockout attack of `conformance --attack` through `wrangler dev` and `workerd serve`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::edge_tools::{self, EdgeTools};
use crate::error::{Context, Error, Result};
use crate::maildev::{self, MailDev};
use crate::proxy::Proxy;
use crate::summary::Outcome;
use crate::supervisor::Supervisor;
use crate::workspace::{cargo, target_dir};
use crate::{edge, net, newman, process, psql, random, workerd};

/// Short, so the hang check is quick; the origin answers in milliseconds.
const ORIGIN_TIMEOUT_MS: u64 = 2000;
pub const ADMIN: (&str, &str) = ("conformance-admin", "an-admin-passphrase-42");
/// The step-up's admins, one a target: `stepup-origin`, `stepup-wrangler`, ...
const STEP_UP_ADMIN: (&str, &str) = ("stepup", "a-step-up-passphrase-53");
const STARTUP_LIMIT: Duration = Duration::from_secs(180);

pub fn run(server_url: &str) -> Result<Outcome> {
    let tools = EdgeTools::ensure()?;
    edge::build_worker(&tools)?;
    let component = edge::build_component()?;
    let sizes = edge::check_sizes(&component)?;
    eprintln!("xtask: {sizes}");
    let workerd_config = workerd::stage(&tools)?;
    let wasmtime = edge_tools::wasmtime()?;
    let spin = edge_tools::spin()?;
    let mail = maildev::Install::ensure()?;
    if spin.is_none() {
        eprintln!("xtask: ../shared/tools/spin/install.sh not found: the edge is not run under spin up");
    }
    process::run(&mut cargo(&["build", "--release", "-p", "origin"]))?;
    process::run(&mut cargo(&["build", "-p", "conformance"]))?;

    let database = format!("e2e_{}", random::hex(6)?);
    psql::create_database(server_url, &database)?;
    let hosts = Hosts {
        component: &component,
        wasmtime: &wasmtime,
        spin: spin.as_deref(),
        workerd_config: &workerd_config,
        mail: &mail,
    };
    let result = with_database(&tools, &hosts, &psql::with_database(server_url, &database));
    let _ = psql::drop_database(server_url, &database);
    result
}

/// What the edge hosts run.
struct Hosts<'a> {
    component: &'a Path,
    wasmtime: &'a Path,
    spin: Option<&'a Path>,
    workerd_config: &'a Path,
    /// MailDev, which gets the origin's mail.
    mail: &'a maildev::Install,
}

/// Every suite talks from 127.0.0.1 to one database, many times over: the brute-force and rate
/// limits (tested on their own in origin/tests/api/throttle.rs) must not refuse it. A mail request
/// held back by its limit answers 202 like any other but sends nothing, and the mail round trips
/// wait for what it sends.
pub const RELAXED_LIMITS: [(&str, &str); 7] = [
    ("LOGIN_MAX_FAILURES", "1000000"),
    ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1000000"),
    ("LOGIN_MAX_FAILURES_PER_IP", "1000000"),
    ("SIGNUP_MAX_PER_IP", "1000000"),
    ("REFRESH_MAX_PER_IP", "1000000"),
    ("MAIL_REQUEST_MAX_PER_IP", "1000000"),
    ("MAIL_REQUEST_MAX_PER_EMAIL", "1000000"),
];

fn with_database(tools: &EdgeTools, run: &Hosts<'_>, url: &str) -> Result<Outcome> {
    let secret = random::hex(32)?;
    let service_token = random::hex(32)?;
    let log_path = target_dir().join("e2e-origin.log");
    // This run's log only: the scans below must not find another run's lines, nor miss this one's.
    File::create(&log_path).context(|| format!("cannot create {}", log_path.display()))?;
    let mut maildev = MailDev::start(run.mail, None, None)?;
    // The links in mails point at the edge under wrangler dev, as a deployment's at its edge.
    let wrangler_port = net::free_port()?;
    let origin_port = net::free_port()?;
    let origin_addr: SocketAddr = ([127, 0, 0, 1], origin_port).into();
    let metrics_addr: SocketAddr = ([127, 0, 0, 1], net::free_port()?).into();
    // The second factor's steps turn TOTP on: without a key, enrolment answers 503.
    let mfa_key = random::hex(32)?;
    let mut origin_env = vec![
        ("MFA_ENCRYPTION_KEYS", format!("e2e:{mfa_key}")),
        ("DATABASE_URL", url.to_owned()),
        ("JWT_SECRET", secret.clone()),
        ("EDGE_SERVICE_TOKEN", service_token.clone()),
        ("PBKDF2_ITERATIONS", "1000".to_owned()),
        ("ORIGIN_ADDR", origin_addr.to_string()),
        ("METRICS_ADDR", metrics_addr.to_string()),
        ("RUST_LOG", "info".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        ("SMTP_URL", maildev.smtp_url()),
        ("PUBLIC_URL", format!("http://127.0.0.1:{wrangler_port}")),
    ];
    origin_env.extend(RELAXED_LIMITS.map(|(name, value)| (name, value.to_owned())));
    let origin_bin = target_dir().join("release").join("origin");
    let mut origin = Origin { bin: origin_bin, env: origin_env, log: log_path.clone(), child: None };
    origin.start(origin_addr)?;
    origin.create_admin(ADMIN.0, ADMIN.1)?;

    let proxy = Proxy::start(origin_addr)?;
    let mut edge_vars = vec![
        ("JWT_SECRET", secret.clone()),
        ("EDGE_SERVICE_TOKEN", service_token.clone()),
        ("ORIGIN_URL", format!("http://127.0.0.1:{}", proxy.port)),
        ("ORIGIN_TIMEOUT_MS", ORIGIN_TIMEOUT_MS.to_string()),
    ];
    let ports = EdgePorts {
        wrangler: wrangler_port,
        workerd: net::free_port()?,
        wasmtime: net::free_port()?,
        spin: if run.spin.is_some() { Some(net::free_port()?) } else { None },
    };
    let mut edges = Edges::start(tools, run, &ports, &edge_vars, false)?;
    let hosts = edges.hosts.clone();
    let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));

    let mut conformance = cargo(&["run", "--quiet", "-p", "conformance", "--"]);
    conformance.args(["--admin", &format!("{}:{}", ADMIN.0, ADMIN.1), "--origin-log"]).arg(&log_path);
    conformance.args(["--origin-metrics", &format!("http://{metrics_addr}/metrics")]);
    conformance.args(["--maildev", &maildev.web_url()]);
    conformance.arg(format!("origin=http://{origin_addr}"));
    for (name, addr) in &hosts {
        conformance.arg(format!("{name}=http://{addr}"));
    }
    let started = Instant::now();
    process::run(&mut conformance)?;
    eprintln!("xtask: the conformance suite took {} s", started.elapsed().as_secs());

    let mut failures = Vec::new();
    // Each target runs even when one before it failed, so the message tells which of them fail.
    for (name, addr) in [("origin", origin_addr)].into_iter().chain(hosts.iter().copied()) {
        match newman::run(tools.npm_bin(), name, &format!("http://{addr}"), ADMIN) {
            Ok(()) => {}
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(error) => failures.push(error.to_string()),
        }
    }

    // The step-up (RFC 9470): the origin and every edge host again, now under REQUIRE_AAL2=admin,
    // on the same addresses; each target's admin of its own, without a second factor yet.
    let started = Instant::now();
    edges.stop();
    origin.stop();
    origin.env.push(("REQUIRE_AAL2", "admin".to_owned()));
    edge_vars.push(("REQUIRE_AAL2", "admin".to_owned()));
    for (name, _) in [("origin", origin_addr)].iter().chain(&hosts) {
        origin.create_admin(&format!("{}-{name}", STEP_UP_ADMIN.0), STEP_UP_ADMIN.1)?;
    }
    origin.start(origin_addr)?;
    edges = Edges::start(tools, run, &ports, &edge_vars, true)?;
    let restarted = started.elapsed();
    let mut step_up = cargo(&["run", "--quiet", "-p", "conformance", "--", "--step-up"]);
    step_up.arg(format!("{}:{}", STEP_UP_ADMIN.0, STEP_UP_ADMIN.1));
    step_up.args(["--origin-metrics", &format!("http://{metrics_addr}/metrics")]);
    step_up.arg(format!("origin=http://{origin_addr}"));
    for (name, addr) in &hosts {
        step_up.arg(format!("{name}=http://{addr}"));
    }
    match process::run(&mut step_up) {
        Ok(()) => {}
        Err(Error::Interrupted) => return Err(Error::Interrupted),
        Err(error) => failures.push(error.to_string()),
    }
    eprintln!(
        "xtask: the step-up took {} s, {} s of it restarting the origin and the edge hosts",
        started.elapsed().as_secs(),
        restarted.as_secs()
    );
    let secrets = [
        ("JWT_SECRET", secret.as_str()),
        ("EDGE_SERVICE_TOKEN", service_token.as_str()),
        ("MFA_ENCRYPTION_KEYS", mfa_key.as_str()),
    ];
    let mails = maildev.received().unwrap_or_else(|error| {
        failures.push(error.to_string());
        String::new()
    });
    failures.extend(log_leaks(&log_path, &edges.logs, &secrets, &mails));
    maildev.check_running()?;
    proxy.hang(true);
    for &(name, addr) in &hosts {
        let limit = Duration::from_millis(ORIGIN_TIMEOUT_MS + 2000);
        expect(&mut failures, name, "a hanging origin", addr, 504, limit);
    }
    proxy.hang(false);
    origin.stop();
    for &(name, addr) in &hosts {
        expect(&mut failures, name, "a stopped origin", addr, 502, Duration::from_secs(5));
    }
    origin.start(origin_addr)?;
    for &(name, addr) in &hosts {
        expect(&mut failures, name, "the origin back", addr, 200, Duration::from_secs(5));
    }
    // The lockout attack, with the origin's default login limits: wrangler dev trusts the client
    // address in cf-connecting-ip (wrangler.toml), workerd serve as compose runs it has none.
    origin.stop();
    origin.env.retain(|(name, _)| !RELAXED_LIMITS.iter().any(|(relaxed, _)| relaxed == name));
    origin.start(origin_addr)?;
    let mut attack = cargo(&["run", "--quiet", "-p", "conformance", "--", "--attack"]);
    attack.args(["--address-header", "wrangler:cf-connecting-ip"]);
    attack.arg(format!("wrangler=http://{}", local(ports.wrangler)));
    attack.arg(format!("workerd=http://{}", local(ports.workerd)));
    match process::run(&mut attack) {
        Ok(()) => {}
        Err(Error::Interrupted) => return Err(Error::Interrupted),
        Err(error) => failures.push(error.to_string()),
    }
    edges.stop();
    origin.stop();
    if failures.is_empty() {
        let spin = if run.spin.is_some() { ", spin up" } else { " (no spin up: its CLI is not at hand)" };
        Ok(Outcome::Passed(Some(format!(
            "conformance (the mail round trips and the second factor among it) and Postman on origin, \
             wrangler dev, workerd serve, wasmtime serve{spin}; the step-up under REQUIRE_AAL2=admin on each, \
             answered at the edge; no secret, password, JWT or mailed link's token in any log; 504, 502 \
             and recovery on every edge; the lockout attack through wrangler dev and workerd serve"
        ))))
    } else {
        Err(Error::failed(failures.join("\n")))
    }
}

/// What no log may hold: the secrets, the passwords the suites use, any JWT, the token of any link
/// MailDev received (`mails`: its `GET /api/email`). `origin` is the origin's log, which must not
/// be empty; `edges` are the edge hosts' logs, files or directories of them (Spin's).
pub fn log_leaks(origin: &Path, edges: &[PathBuf], secrets: &[(&str, &str)], mails: &str) -> Vec<String> {
    let mut leaks = Vec::new();
    let tokens = link_tokens(mails);
    if tokens.is_empty() {
        leaks.push("MailDev received no link with a token: the scan for them would see nothing".to_owned());
    }
    if std::fs::metadata(origin).is_ok_and(|meta| meta.len() == 0) {
        leaks.push(format!("{} is empty: the log check would see nothing", origin.display()));
    }
    // Spin makes its directory of logs only once the component writes.
    let mut files = vec![origin.to_path_buf()];
    for log in edges.iter().filter(|log| log.exists()) {
        match std::fs::read_dir(log) {
            Ok(entries) => files.extend(entries.filter_map(|entry| Some(entry.ok()?.path()))),
            Err(_) => files.push(log.clone()),
        }
    }
    let passwords: Vec<&str> = [ADMIN.1, STEP_UP_ADMIN.1].into_iter().chain(SUITE_PASSWORDS).collect();
    for file in &files {
        let text = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                leaks.push(format!("reading {}: {e}", file.display()));
                continue;
            }
        };
        let at_line = |at: usize| format!("{}, line {}", file.display(), text[..at].matches('\n').count() + 1);
        for (name, value) in secrets {
            if let Some(at) = text.find(value) {
                leaks.push(format!("a log holds {name} ({})", at_line(at)));
            }
        }
        for password in &passwords {
            if let Some(at) = text.find(password) {
                leaks.push(format!("a log holds a password, {password} ({})", at_line(at)));
            }
        }
        // Every JWT starts with a base64url JSON object: `{"` encodes to `eyJ`.
        if let Some(at) = text.find("eyJ") {
            leaks.push(format!("a log holds what looks like a token ({})", at_line(at)));
        }
        if let Some(at) = tokens.iter().filter_map(|token| text.find(token.as_str())).min() {
            leaks.push(format!("a log holds the token of a mailed link ({})", at_line(at)));
        }
    }
    eprintln!(
        "xtask: {} logs scanned for the secrets, {} passwords, JWTs and {} mailed links' tokens",
        files.len(),
        passwords.len(),
        tokens.len()
    );
    leaks
}

/// Every distinct token after `#token=` in `text`.
fn link_tokens(text: &str) -> std::collections::BTreeSet<String> {
    text.split("#token=")
        .skip(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_hexdigit).collect::<String>())
        .filter(|token| token.len() == 64)
        .collect()
}

/// The passwords the conformance suite (conformance/src/cases.rs) and the Postman collection
/// sign up and change to.
const SUITE_PASSWORDS: [&str; 3] = ["velvet-otter-signs-14", "a-brand-new-passphrase-77", "quiet-harbor-lamps-27"];

/// `GET /` through the edge at `addr` must answer `status` within `limit`.
fn expect(failures: &mut Vec<String>, host: &str, situation: &str, addr: SocketAddr, status: u16, limit: Duration) {
    let started = Instant::now();
    let got = net::get_status_within(addr, "/", limit + Duration::from_secs(5));
    let took = started.elapsed();
    if got == Some(status) && took <= limit {
        eprintln!("xtask: {host} with {situation}: {status} in {} ms", took.as_millis());
    } else {
        failures.push(format!(
            "{host} with {situation}: {got:?} in {} ms, expected {status} within {} ms",
            took.as_millis(),
            limit.as_millis()
        ));
    }
}

/// Where each edge host listens, chosen once: a host started again comes back on its address.
struct EdgePorts {
    wrangler: u16,
    workerd: u16,
    wasmtime: u16,
    /// Where the Spin CLI is at hand.
    spin: Option<u16>,
}

/// The edge hosts, running.
struct Edges {
    supervisor: Supervisor,
    /// Each host's name and address.
    hosts: Vec<(&'static str, SocketAddr)>,
    /// Each host's output, files or a directory of them (Spin's), which the log scan reads.
    logs: Vec<PathBuf>,
}

impl Edges {
    /// Starts every edge host with `vars` as its configuration and waits until each answers
    /// `GET /`. Each host's output goes to a file of its own, which `again` (a restart) appends to,
    /// so the log scan reads the whole run.
    fn start(
        tools: &EdgeTools,
        run: &Hosts<'_>,
        ports: &EdgePorts,
        vars: &[(&str, String)],
        again: bool,
    ) -> Result<Self> {
        let mut supervisor = Supervisor::default();
        let mut logs = Vec::new();
        let mut logged = |name: &str, command: &mut Command| -> Result<()> {
            let path = target_dir().join(format!("e2e-{}.log", name.split(' ').next().unwrap_or(name)));
            let log = File::options()
                .create(true)
                .write(true)
                .append(again)
                .truncate(!again)
                .open(&path)
                .context(|| format!("cannot open {}", path.display()))?;
            command.stdout(log.try_clone()?).stderr(log);
            if !again {
                eprintln!("xtask: {name}'s output goes to {}", path.display());
            }
            logs.push(path);
            supervisor.spawn(name, command)
        };
        let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        logged("wrangler dev", &mut edge::wrangler_dev(tools, ports.wrangler, vars)?)?;
        logged("workerd serve", &mut workerd::serve(run.workerd_config, ports.workerd, vars))?;
        logged("wasmtime serve", &mut edge::wasmtime_serve(run.wasmtime, run.component, ports.wasmtime, vars))?;
        let mut hosts = vec![
            ("wrangler", local(ports.wrangler)),
            ("workerd", local(ports.workerd)),
            ("wasmtime", local(ports.wasmtime)),
        ];
        if let (Some(spin), Some(port)) = (run.spin, ports.spin) {
            let state_dir = target_dir().join("e2e-spin");
            // Spin appends to its logs: this run's only, as for the others.
            if !again {
                let _ = std::fs::remove_dir_all(state_dir.join("logs"));
            }
            logged("spin up", &mut edge::spin_up(spin, port, vars, &state_dir))?;
            hosts.push(("spin", local(port)));
            // What the component writes, Spin keeps under its state directory.
            logs.push(state_dir.join("logs"));
        }
        for &(name, addr) in &hosts {
            supervisor.wait_until(name, STARTUP_LIMIT, || net::get_status(addr, "/") == Some(200)).map_err(
                |error| match error {
                    Error::Failed(message) => Error::failed(format!(
                        "{message} (the edge hosts' output: {}/e2e-*.log)",
                        target_dir().display()
                    )),
                    other => other,
                },
            )?;
        }
        Ok(Self { supervisor, hosts, logs })
    }

    fn stop(&mut self) {
        self.supervisor.stop_all();
    }
}

/// The origin process, which the checks stop and start again on the same address.
struct Origin {
    bin: PathBuf,
    env: Vec<(&'static str, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Origin {
    /// `origin create-admin` on the origin's database.
    fn create_admin(&self, username: &str, password: &str) -> Result<()> {
        let mut admin = Command::new(&self.bin);
        admin
            .args(["create-admin", "--username", username])
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .env("ORIGIN_ADMIN_PASSWORD", password);
        process::run(&mut admin)
    }

    fn start(&mut self, addr: SocketAddr) -> Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(&self.bin);
        command.arg("serve").envs(self.env.iter().map(|(k, v)| (*k, v))).stderr(log);
        self.child = Some(process::spawn(&mut command)?);
        let deadline = Instant::now() + STARTUP_LIMIT;
        while net::get_status(addr, "/") != Some(200) {
            if Instant::now() > deadline {
                return Err(Error::failed(format!("the origin did not answer on {addr}; see {}", self.log.display())));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::stop(&mut child, Signal::SIGTERM);
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_the_64_hex_digits_after_the_fragments_key() {
        let a = "0123456789abcdef".repeat(4);
        let b = "fedcba9876543210".repeat(4);
        let mails = format!(
            r##"[{{"text": "https://x/reset-password#token={a}\n", "html": "<a href=\"https://x/reset-password#token={a}\">"}},
            {{"text": "https://x/verify#token={b}"}}, {{"text": "#token=abc"}}]"##
        );
        let tokens = link_tokens(&mails);
        assert_eq!(tokens.into_iter().collect::<Vec<_>>(), [a, b]);
    }

    #[test]
    fn the_log_scan_names_each_log_that_holds_a_secret_a_password_a_jwt_or_a_mailed_token() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-log-scan-{}", random::hex(8)?));
        let spin = dir.join("spin-logs");
        std::fs::create_dir_all(&spin)?;
        let token = "0123456789abcdef".repeat(4);
        let mails = format!(r#"[{{"text": "https://x/reset-password#token={token}"}}]"#);
        let (origin, wrangler) = (dir.join("origin.log"), dir.join("wrangler.log"));
        std::fs::write(&origin, "a line\nanother line\n")?;
        std::fs::write(&wrangler, "[wrangler:info] POST /auth/reset-password 200 OK\n")?;
        std::fs::write(spin.join("edge_stderr.txt"), "")?;
        let edges = [wrangler.clone(), spin.clone(), dir.join("absent")];
        let secrets = [("JWT_SECRET", "s3cr3t-value")];
        assert_eq!(log_leaks(&origin, &edges, &secrets, &mails), Vec::<String>::new());

        std::fs::write(&wrangler, format!("ok\n{{\"token\": \"{token}\"}}\n"))?;
        std::fs::write(spin.join("edge_stderr.txt"), format!("s3cr3t-value {}\n", SUITE_PASSWORDS[0]))?;
        std::fs::write(&origin, "eyJhbGciOiJIUzI1NiJ9\n")?;
        let leaks = log_leaks(&origin, &edges, &secrets, &mails);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(leaks.len(), 4, "{leaks:#?}");
        assert!(leaks.iter().any(|l| l.contains("token of a mailed link") && l.contains("wrangler.log, line 2")));
        assert!(leaks.iter().any(|l| l.contains("JWT_SECRET") && l.contains("edge_stderr.txt")));
        assert!(leaks.iter().any(|l| l.contains("a password") && l.contains("edge_stderr.txt")));
        assert!(leaks.iter().any(|l| l.contains("looks like a token") && l.contains("origin.log, line 1")));
        assert_eq!(log_leaks(&origin, &edges, &secrets, "[]").len(), 2, "no token to look for is a failure too");
        Ok(())
    }
}
