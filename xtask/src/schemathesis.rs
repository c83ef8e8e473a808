//! Property-based API tests: schemathesis reads the origin's OpenAPI document and checks that
//! every operation answers as the document says, on a fresh database of the test server. Its
//! hooks (`xtask/schemathesis/credentials.py`) give every case a fresh user's token, an admin's
//! for admin routes, and log every answer; each operation must have been answered past the 401.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::python::Venv;
use crate::summary::Outcome;
use crate::supervisor::Supervisor;
use crate::workspace::{cargo, root, target_dir};
use crate::{net, process, psql, random};

/// Pinned: its CLI has changed between releases, and the flags below are this version's.
const VERSION: &str = "4.32.5";
/// Per operation: enough to find the usual 500s and schema mismatches within a few minutes.
const MAX_EXAMPLES: &str = "50";
/// A hard stop: `--max-examples` bounds the cases, not the clock.
const TIME_LIMIT: Duration = Duration::from_secs(15 * 60);
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

pub fn run(server_url: &str) -> Result<Outcome> {
    eprintln!("xtask: building origin (release; the first build takes a few minutes)");
    process::run(&mut cargo(&["build", "--release", "-p", "origin"]))?;
    let origin = target_dir().join("release").join("origin");
    if !supports_serve(&origin)? {
        return Ok(Outcome::Skipped("origin has no `serve` subcommand yet (per `origin --help`)".to_owned()));
    }
    let venv = Venv::ensure()?;
    venv.ensure_package("schemathesis", VERSION)?;

    let database = ScratchDatabase::create(server_url)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
    let secret = random::hex(32)?;
    let admin_password = random::hex(16)?;
    let mfa_keys = format!("st:{}", random::hex(32)?);
    let origin_env = [
        // Enrolment seals a secret: without a key it would answer 503.
        ("MFA_ENCRYPTION_KEYS", mfa_keys.as_str()),
        ("DATABASE_URL", database.url.as_str()),
        ("JWT_SECRET", secret.as_str()),
        // Each fuzzed login and registration hashes; the production cost would only slow the run.
        ("PBKDF2_ITERATIONS", "1000"),
        // Empty: no metrics listener, so a developer's config/.env cannot make it collide.
        ("METRICS_ADDR", ""),
    ];
    process::run(
        Command::new(&origin)
            .args(["create-admin", "--username", ADMIN_USER])
            .envs(origin_env)
            .env("ORIGIN_ADMIN_PASSWORD", &admin_password),
    )?;
    let mut services = Supervisor::default();
    let mut serve = Command::new(&origin);
    serve.arg("serve").env("ORIGIN_ADDR", addr.to_string()).envs(origin_env).envs(crate::e2e::RELAXED_LIMITS);
    if std::env::var_os("RUST_LOG").is_none() {
        // Thousands of requests: per-request logs would bury schemathesis's report.
        serve.env("RUST_LOG", "warn");
    }
    services.spawn("origin", &mut serve)?;
    services.wait_until("origin", STARTUP_LIMIT, || net::get_status(addr, "/") == Some(200))?;

    // schemathesis keeps its replay data in `.schemathesis/` of its working directory: under
    // target/ it stays out of the work tree, and its search for a `schemathesis.toml` still
    // walks up to the workspace root.
    let work_dir = target_dir().join("schemathesis");
    std::fs::create_dir_all(&work_dir)?;
    let call_log = work_dir.join("calls.log");
    let operations = work_dir.join("operations.txt");
    std::fs::write(&call_log, "")?;
    std::fs::write(&operations, "")?;
    process::run_within(
        Command::new(venv.bin("schemathesis"))
            .env("PYTHONPATH", root().join("xtask").join("schemathesis"))
            .env("SCHEMATHESIS_HOOKS", "credentials")
            .env("JWT_AUTH_BASE_URL", format!("http://{addr}"))
            .env("JWT_AUTH_ADMIN_USER", ADMIN_USER)
            .env("JWT_AUTH_ADMIN_PASSWORD", &admin_password)
            .env("JWT_AUTH_CALL_LOG", &call_log)
            .env("JWT_AUTH_OPERATIONS", &operations)
            .args([
                "run",
                &format!("http://{addr}/openapi.json"),
                "--checks",
                "all",
                // Valid JSON Schema is not always an acceptable password or name: the blocklist,
                // repeated patterns and the user's own name cannot be written as a schema, so a
                // schema-valid sign-up may rightly get 422. Every other check holds.
                "--exclude-checks",
                "positive_data_acceptance",
                "--max-examples",
                MAX_EXAMPLES,
                "--request-timeout",
                "10",
                // A one-off run has no use for Hypothesis's store of past failing examples.
                "--generation-database",
                "none",
            ])
            .current_dir(&work_dir),
        TIME_LIMIT,
    )?;
    services.stop_all();
    let operations = std::fs::read_to_string(&operations)?;
    let operations: Vec<&str> = operations.lines().collect();
    let note = reached_past_401(&operations, &std::fs::read_to_string(&call_log)?)?;
    Ok(Outcome::Passed(Some(note)))
}

/// The account the hooks promote fresh admins with.
const ADMIN_USER: &str = "schemathesis-root";

/// Checks the hooks' log (`METHOD /path STATUS` a call): every operation answered something
/// other than 401, and nothing 5xx. Answers the step's note.
fn reached_past_401(operations: &[&str], calls: &str) -> Result<String> {
    let mut answers: std::collections::BTreeMap<&str, Vec<u16>> = std::collections::BTreeMap::new();
    for line in calls.lines() {
        let Some((operation, status)) = line.rsplit_once(' ') else { continue };
        answers.entry(operation).or_default().push(status.parse().unwrap_or(0));
    }
    let server_errors: Vec<String> = answers
        .iter()
        .filter(|(_, statuses)| statuses.iter().any(|s| *s >= 500))
        .map(|(operation, _)| (*operation).to_owned())
        .collect();
    if !server_errors.is_empty() {
        return Err(Error::failed(format!("5xx answers from {}", server_errors.join(", "))));
    }
    let unreached: Vec<&str> = operations
        .iter()
        .copied()
        .filter(|operation| answers.get(operation).is_none_or(|statuses| statuses.iter().all(|s| *s == 401)))
        .collect();
    if operations.is_empty() {
        return Err(Error::failed("the hooks listed no operations (SCHEMATHESIS_HOOKS not loaded?)"));
    }
    if !unreached.is_empty() {
        return Err(Error::failed(format!("never answered past the 401: {}", unreached.join(", "))));
    }
    let calls: usize = answers.values().map(Vec::len).sum();
    Ok(format!("{calls} calls, all {} operations answered past the 401, no 5xx", operations.len()))
}

/// `origin --help` lists its subcommands; before `serve` exists there is nothing to test.
fn supports_serve(origin: &std::path::Path) -> Result<bool> {
    let output = process::output(Command::new(origin).arg("--help"))?;
    let help = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    Ok(help.split_whitespace().any(|word| word == "serve"))
}

/// A database of its own on the test server, dropped afterwards even if the step fails.
struct ScratchDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    fn create(server_url: &str) -> Result<Self> {
        let name = format!("schemathesis_{}", random::hex(6)?);
        psql::create_database(server_url, &name)
            .map_err(|error| Error::failed(format!("cannot create {name}: {error}")))?;
        Ok(ScratchDatabase { server_url: server_url.to_owned(), url: psql::with_database(server_url, &name), name })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Err(error) = psql::drop_database(&self.server_url, &self.name) {
            eprintln!("xtask: {error}");
        }
    }
}
