//! `cargo xtask test`'s compose step: the stack that `cargo xtask compose up` builds and starts,
//! on free ports and with an env file of the run's own, tested as the edge hosts are in
//! `e2e.rs`. The conformance suite runs against the api and the edge containers (with the mail
//! round trips: the api sends to a MailDev on this machine, reached from the containers as
//! `host.containers.internal`), then the Postman collection against each; the api's and the
//! edge's container logs must hold no secret, password, JWT or mailed link's token; `down` must
//! leave no container, volume or network behind.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Child;
use std::time::Instant;

use nix::sys::signal::Signal;

use super::{Engine, HOST_NAME, Stack, build, down, leftovers, smoke, start};
use crate::error::{Error, Result};
use crate::maildev::{self, MailDev};
use crate::summary::Outcome;
use crate::workspace::{cargo, target_dir};
use crate::{e2e, edge_tools, env_file, net, newman, process, random};

/// The test stack's project: apart from `compose up`'s, whose volume holds a user's data.
const PROJECT: &str = "jwt-auth-test";

pub fn run(mail: &maildev::Install) -> Result<Outcome> {
    // newman, from npm (not the edge's build tools: the images build the edge themselves).
    let npm_bin = edge_tools::ensure_npm_packages()?;
    process::run(&mut cargo(&["build", "-p", "conformance"]))?;
    let started = Instant::now();
    let engine = Engine::detect();
    // Ports chosen after the build, which may take many minutes, so they are still free.
    build(engine)?;
    // SMTP on every address of this machine: the containers reach it as HOST_NAME, which is one
    // of them (which one depends on the engine). The web page and API stay on 127.0.0.1.
    let maildev = MailDev::start_on(mail, Ipv4Addr::UNSPECIFIED, None, None)?;
    let [api, metrics, edge] = distinct_free_ports()?.map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
    let env_file = target_dir().join("compose-test.env");
    let stack = Stack { project: PROJECT.to_owned(), api, metrics, edge, env_file, publish_db: false };
    let secrets = write_env_file(&stack, &maildev)?;
    // What an interrupted run left behind would hold the names.
    if !leftovers(engine, PROJECT)?.is_empty() {
        down(&stack)?;
    }
    let result = start(engine, &stack).and_then(|()| exercise(&npm_bin, engine, &stack, &maildev, &secrets));
    if result.is_err() {
        keep_logs(engine);
    }
    let downed = down(&stack);
    let _ = std::fs::remove_file(&stack.env_file);
    match (result, downed) {
        (Ok(()), Ok(())) => Ok(Outcome::Passed(Some(format!(
            "{}: the images built, db, api and edge started; conformance with the mail round trips and \
             Postman on the api and the edge containers; no secret in their logs; down left nothing; {} s",
            engine.name(),
            started.elapsed().as_secs()
        )))),
        (Err(Error::Interrupted), _) | (_, Err(Error::Interrupted)) => Err(Error::Interrupted),
        (Err(error), Ok(())) | (Ok(()), Err(error)) => Err(error),
        (Err(error), Err(down)) => Err(Error::failed(format!("{error}\nand then: {down}"))),
    }
}

/// The values the scan must not find, by name.
struct Secrets {
    jwt: String,
    service_token: String,
    mfa_key: String,
}

/// The run's configuration: fresh secrets, TOTP on, mail to `maildev` with links to the edge, a
/// cheap password hash and the limits relaxed as for the edge hosts (every suite talks from one
/// address). Only the owner may read it.
fn write_env_file(stack: &Stack, maildev: &MailDev) -> Result<Secrets> {
    let secrets = Secrets { jwt: random::hex(32)?, service_token: random::hex(32)?, mfa_key: random::hex(32)? };
    let mut lines = vec![
        format!("JWT_SECRET={}", secrets.jwt),
        format!("EDGE_SERVICE_TOKEN={}", secrets.service_token),
        format!("MFA_ENCRYPTION_KEYS=compose:{}", secrets.mfa_key),
        "PBKDF2_ITERATIONS=1000".to_owned(),
        format!("SMTP_URL=smtp://{}:{}", HOST_NAME, maildev.smtp_port()),
        format!("PUBLIC_URL=http://{}", stack.edge),
        "RUST_LOG=info".to_owned(),
        "LOG_FORMAT=json".to_owned(),
    ];
    lines.extend(e2e::RELAXED_LIMITS.iter().map(|(name, value)| format!("{name}={value}")));
    env_file::replace_private(&stack.env_file, &(lines.join("\n") + "\n"))?;
    Ok(secrets)
}

fn exercise(npm_bin: &Path, engine: Engine, stack: &Stack, maildev: &MailDev, secrets: &Secrets) -> Result<()> {
    smoke(stack.edge)?;
    let (admin, password) = e2e::ADMIN;
    process::run(
        engine
            .command()
            .args(["exec", "--env", &format!("ORIGIN_ADMIN_PASSWORD={password}")])
            .arg(engine.container(PROJECT, "api")?)
            .args(["/usr/local/bin/origin", "create-admin", "--username", admin]),
    )?;
    let api_log = target_dir().join("compose-api.log");
    let edge_log = target_dir().join("compose-edge.log");
    // Followed while the suites run: the conformance suite reads the api's to prove that forged
    // tokens never reach it.
    let mut followers = Followers(Vec::new());
    for (service, log) in [("api", &api_log), ("edge", &edge_log)] {
        followers.0.push(engine.logs(PROJECT, service, log, true)?);
    }

    let mut conformance = cargo(&["run", "--quiet", "-p", "conformance", "--"]);
    conformance.args(["--admin", &format!("{admin}:{password}"), "--origin-log"]).arg(&api_log);
    conformance.args(["--origin-metrics", &format!("http://{}/metrics", stack.metrics)]);
    conformance.args(["--maildev", &maildev.web_url()]);
    conformance.arg(format!("api=http://{}", stack.api)).arg(format!("edge=http://{}", stack.edge));
    let mut failures = Vec::new();
    keep_failure(&mut failures, process::run(&mut conformance))?;
    for (name, addr) in [("the api container", stack.api), ("the edge container", stack.edge)] {
        keep_failure(&mut failures, newman::run(npm_bin, name, &format!("http://{addr}"), e2e::ADMIN))?;
    }
    followers.stop();
    // The scan reads whole logs, not what a follower had written when it was stopped.
    for (service, log) in [("api", &api_log), ("edge", &edge_log)] {
        engine.logs(PROJECT, service, log, false)?.wait()?;
    }
    let named = [
        ("JWT_SECRET", secrets.jwt.as_str()),
        ("EDGE_SERVICE_TOKEN", secrets.service_token.as_str()),
        ("MFA_ENCRYPTION_KEYS", secrets.mfa_key.as_str()),
    ];
    let mails = maildev.received()?;
    failures.extend(e2e::log_leaks(&api_log, &[edge_log], &named, &mails));
    if failures.is_empty() { Ok(()) } else { Err(Error::failed(failures.join("\n"))) }
}

/// `free_port` binds port 0 and lets go: two calls may give the same port.
fn distinct_free_ports() -> Result<[u16; 3]> {
    let mut ports = Vec::new();
    while ports.len() < 3 {
        let port = net::free_port()?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok([ports[0], ports[1], ports[2]])
}

/// Each service's whole log into target/compose-<service>.log before `down` removes the
/// containers, for the failure's diagnosis.
fn keep_logs(engine: Engine) {
    for service in ["db", "api", "edge"] {
        let path = target_dir().join(format!("compose-{service}.log"));
        if let Ok(mut child) = engine.logs(PROJECT, service, &path, false)
            && child.wait().is_ok()
        {
            eprintln!("xtask: {service}'s log is in {}", path.display());
        }
    }
}

/// Keeps a suite's failure so the next suite still runs; an interruption ends the step.
fn keep_failure(failures: &mut Vec<String>, result: Result<()>) -> Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(Error::Interrupted) => Err(Error::Interrupted),
        Err(error) => {
            failures.push(error.to_string());
            Ok(())
        }
    }
}

/// The `logs --follow` processes, stopped when done or dropped.
struct Followers(Vec<Child>);

impl Followers {
    fn stop(&mut self) {
        for child in &mut self.0 {
            process::stop(child, Signal::SIGTERM);
        }
        self.0.clear();
    }
}

impl Drop for Followers {
    fn drop(&mut self) {
        self.stop();
    }
}
