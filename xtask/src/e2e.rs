//! The edge, end to end on real hosts: the origin on a database of its own, and in front of it the
//! Cloudflare build under `wrangler dev` (workerd), the same bundle under `workerd serve` with the
//! compose file's config, and the WASI component under `wasmtime serve` and, where the Spin CLI is
//! at hand (`../shared/tools/spin/install.sh`), under `spin up` with the project's spin.toml, the
//! origin reached through `SPIN_VARIABLE_ORIGIN_URL` on a port of its own. Both builds must be
//! within their size budgets. The conformance suite runs against all four and proves from the
//! origin's log that forged tokens stay at the edge, and the Postman collection (newman) passes
//! against each; the origin's log must then hold no secret, password or token, and its metrics
//! must have counted what the edges forwarded. Last, each edge must answer 504 within its timeout
//! while the origin hangs, 502 within 5 s while it is down, and recover, without a restart, once
//! it is back. Then, with the origin's default login limits, the lockout attack of
//! `conformance --attack` through `wrangler dev` and `workerd serve`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::edge_tools::{self, EdgeTools};
use crate::error::{Error, Result};
use crate::proxy::Proxy;
use crate::summary::Outcome;
use crate::supervisor::Supervisor;
use crate::workspace::{cargo, target_dir};
use crate::{edge, net, newman, process, psql, random, workerd};

/// Short, so the hang check is quick; the origin answers in milliseconds.
const ORIGIN_TIMEOUT_MS: u64 = 2000;
const ADMIN: (&str, &str) = ("conformance-admin", "an-admin-passphrase-42");
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
    if spin.is_none() {
        eprintln!("xtask: ../shared/tools/spin/install.sh not found: the edge is not run under spin up");
    }
    process::run(&mut cargo(&["build", "--release", "-p", "origin"]))?;
    process::run(&mut cargo(&["build", "-p", "conformance"]))?;

    let database = format!("e2e_{}", random::hex(6)?);
    psql::create_database(server_url, &database)?;
    let hosts =
        Hosts { component: &component, wasmtime: &wasmtime, spin: spin.as_deref(), workerd_config: &workerd_config };
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
}

/// Every suite talks from 127.0.0.1 to one database, many times over: the brute-force and rate
/// limits (tested on their own in origin/tests/api/throttle.rs) must not refuse it.
pub const RELAXED_LIMITS: [(&str, &str); 5] = [
    ("LOGIN_MAX_FAILURES", "1000000"),
    ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1000000"),
    ("LOGIN_MAX_FAILURES_PER_IP", "1000000"),
    ("SIGNUP_MAX_PER_IP", "1000000"),
    ("REFRESH_MAX_PER_IP", "1000000"),
];

fn with_database(tools: &EdgeTools, run: &Hosts<'_>, url: &str) -> Result<Outcome> {
    let secret = random::hex(32)?;
    let service_token = random::hex(32)?;
    let log_path = target_dir().join("e2e-origin.log");
    let origin_port = net::free_port()?;
    let origin_addr: SocketAddr = ([127, 0, 0, 1], origin_port).into();
    let metrics_addr: SocketAddr = ([127, 0, 0, 1], net::free_port()?).into();
    let mut origin_env = vec![
        ("DATABASE_URL", url.to_owned()),
        ("JWT_SECRET", secret.clone()),
        ("EDGE_SERVICE_TOKEN", service_token.clone()),
        ("PBKDF2_ITERATIONS", "1000".to_owned()),
        ("ORIGIN_ADDR", origin_addr.to_string()),
        ("METRICS_ADDR", metrics_addr.to_string()),
        ("RUST_LOG", "info".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
    ];
    origin_env.extend(RELAXED_LIMITS.map(|(name, value)| (name, value.to_owned())));
    let origin_bin = target_dir().join("release").join("origin");
    let mut origin = Origin { bin: origin_bin, env: origin_env, log: log_path.clone(), child: None };
    origin.start(origin_addr)?;
    let mut admin = Command::new(&origin.bin);
    admin
        .args(["create-admin", "--username", ADMIN.0])
        .envs(origin.env.iter().map(|(k, v)| (*k, v)))
        .env("ORIGIN_ADMIN_PASSWORD", ADMIN.1);
    process::run(&mut admin)?;

    let proxy = Proxy::start(origin_addr)?;
    let edge_vars = vec![
        ("JWT_SECRET", secret.clone()),
        ("EDGE_SERVICE_TOKEN", service_token.clone()),
        ("ORIGIN_URL", format!("http://127.0.0.1:{}", proxy.port)),
        ("ORIGIN_TIMEOUT_MS", ORIGIN_TIMEOUT_MS.to_string()),
    ];
    let mut edges = Supervisor::default();
    let wrangler_port = net::free_port()?;
    edges.spawn("wrangler dev", &mut edge::wrangler_dev(tools, wrangler_port, &edge_vars))?;
    let workerd_port = net::free_port()?;
    edges.spawn("workerd serve", &mut workerd::serve(run.workerd_config, workerd_port, &edge_vars))?;
    let wasmtime_port = net::free_port()?;
    edges.spawn("wasmtime serve", &mut edge::wasmtime_serve(run.wasmtime, run.component, wasmtime_port, &edge_vars))?;
    let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let mut hosts: Vec<(&str, SocketAddr)> =
        vec![("wrangler", local(wrangler_port)), ("workerd", local(workerd_port)), ("wasmtime", local(wasmtime_port))];
    if let Some(spin) = run.spin {
        let spin_port = net::free_port()?;
        let state_dir = target_dir().join("e2e-spin");
        edges.spawn("spin up", &mut edge::spin_up(spin, spin_port, &edge_vars, &state_dir))?;
        hosts.push(("spin", local(spin_port)));
    }
    let hosts = hosts;
    for &(name, addr) in &hosts {
        edges.wait_until(name, STARTUP_LIMIT, || net::get_status(addr, "/") == Some(200))?;
    }

    let mut conformance = cargo(&["run", "--quiet", "-p", "conformance", "--"]);
    conformance.args(["--admin", &format!("{}:{}", ADMIN.0, ADMIN.1), "--origin-log"]).arg(&log_path);
    conformance.args(["--origin-metrics", &format!("http://{metrics_addr}/metrics")]);
    conformance.arg(format!("origin=http://{origin_addr}"));
    for (name, addr) in &hosts {
        conformance.arg(format!("{name}=http://{addr}"));
    }
    process::run(&mut conformance)?;

    let mut failures = Vec::new();
    // Each target runs even when one before it failed, so the message tells which of them fail.
    for (name, addr) in [("origin", origin_addr)].into_iter().chain(hosts.iter().copied()) {
        match newman::run(tools, name, &format!("http://{addr}"), ADMIN) {
            Ok(()) => {}
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(error) => failures.push(error.to_string()),
        }
    }
    let secrets = [("JWT_SECRET", secret.as_str()), ("EDGE_SERVICE_TOKEN", service_token.as_str())];
    failures.extend(log_leaks(&log_path, &secrets));
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
    attack.arg(format!("wrangler=http://{}", local(wrangler_port)));
    attack.arg(format!("workerd=http://{}", local(workerd_port)));
    match process::run(&mut attack) {
        Ok(()) => {}
        Err(Error::Interrupted) => return Err(Error::Interrupted),
        Err(error) => failures.push(error.to_string()),
    }
    drop(edges);
    origin.stop();
    if failures.is_empty() {
        let spin = if run.spin.is_some() { ", spin up" } else { " (no spin up: its CLI is not at hand)" };
        Ok(Outcome::Passed(Some(format!(
            "conformance and Postman on origin, wrangler dev, workerd serve, wasmtime serve{spin}; no secret in \
             the origin's log; 504, 502 and recovery on every edge; the lockout attack through wrangler dev \
             and workerd serve"
        ))))
    } else {
        Err(Error::failed(failures.join("\n")))
    }
}

/// What the origin's log must never hold: the secrets, the passwords the suites use, any JWT.
fn log_leaks(log: &Path, secrets: &[(&str, &str)]) -> Vec<String> {
    let text = match std::fs::read_to_string(log) {
        Ok(text) if !text.is_empty() => text,
        Ok(_) => return vec![format!("{} is empty: the log check would see nothing", log.display())],
        Err(e) => return vec![format!("reading {}: {e}", log.display())],
    };
    let passwords = [ADMIN.1].into_iter().chain(SUITE_PASSWORDS);
    let mut leaks: Vec<String> = secrets
        .iter()
        .filter(|(_, value)| text.contains(value))
        .map(|(name, _)| format!("the origin's log holds {name}"))
        .collect();
    leaks.extend(passwords.filter(|p| text.contains(*p)).map(|p| format!("the origin's log holds a password ({p})")));
    // Every JWT starts with a base64url JSON object: `{"` encodes to `eyJ`.
    if let Some(at) = text.find("eyJ") {
        let line = text[..at].lines().count();
        leaks.push(format!("the origin's log holds what looks like a token ({}, line {line})", log.display()));
    }
    leaks
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

/// The origin process, which the checks stop and start again on the same address.
struct Origin {
    bin: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
    log: std::path::PathBuf,
    child: Option<Child>,
}

impl Origin {
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
