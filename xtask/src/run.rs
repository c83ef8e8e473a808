//! `cargo xtask run`: the explicit dev mode. A fresh clone gets a `config/.env` with its own
//! secret, a database (a private one unless `DATABASE_URL` names one), a running origin and the
//! edge in front of it (`wrangler dev` and `wasmtime serve`), and MailDev, which receives the
//! origin's mail and shows it on a web page (unless `SMTP_URL` names a mail server).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::edge_tools::{self, EdgeTools};
use crate::error::Result;
use crate::maildev::{self, MailDev};
use crate::net;
use crate::postgres::Database;
use crate::process;
use crate::supervisor::Supervisor;
use crate::workspace::{cargo, root, target_dir};
use crate::{edge, env_file};

const DEFAULT_ORIGIN_ADDR: &str = "127.0.0.1:8000";
/// wrangler's usual port, and the next one for the WASI build.
const WORKERD_PORT: u16 = 8787;
const WASMTIME_PORT: u16 = 8788;
/// What the edge reads (the same names as the origin's).
const EDGE_SETTINGS: [&str; 12] = [
    "JWT_SECRET",
    "JWT_KEYS",
    "JWT_ALG",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "ACCESS_TOKEN_TTL_SECS",
    "REFRESH_TOKEN_TTL_SECS",
    "EDGE_SERVICE_TOKEN",
    "ORIGIN_URL",
    "ORIGIN_TIMEOUT_MS",
    "CORS_ALLOWED_ORIGINS",
    "REQUIRE_AAL2",
];
/// The origin migrates its database before it listens; a cold start can take a while.
const STARTUP_LIMIT: Duration = Duration::from_secs(120);
/// The sender of the origin's mail unless the config sets `MAIL_FROM`.
const DEFAULT_MAIL_FROM: &str = "jwt-auth <no-reply@localhost>";

pub fn run() -> Result<()> {
    let config = load_config()?;
    let origin_addr = env_file::lookup(&config, "ORIGIN_ADDR").unwrap_or_else(|| DEFAULT_ORIGIN_ADDR.to_owned());
    let probe = net::reachable(&origin_addr)?;
    // Checked before the slow steps, and again before the start in case the build took long.
    net::ensure_free(&origin_addr, "ORIGIN_ADDR")?;

    let database = Database::provide(env_file::lookup(&config, "DATABASE_URL"), "jwt_auth")?;
    if let Database::Private { .. } = database {
        eprintln!("xtask: {} (deleted on exit): {}", database.describe(), database.url());
    }

    eprintln!("xtask: building origin (release; the first build takes a few minutes)");
    process::run(&mut cargo(&["build", "--release", "-p", "origin"]))?;

    eprintln!("xtask: preparing the edge (tools are installed once and cached; builds take a minute or two)");
    let tools = EdgeTools::ensure()?;
    edge::build_worker(&tools)?;
    let component = edge::build_component()?;
    let wasmtime = edge_tools::wasmtime()?;
    // The user's own mail server if they name one, else a MailDev that keeps every mail.
    let maildev_install = match env_file::lookup(&config, "SMTP_URL") {
        Some(_) => None,
        None => Some(maildev::Install::ensure()?),
    };

    net::ensure_free(&origin_addr, "ORIGIN_ADDR")?;
    for port in [WORKERD_PORT, WASMTIME_PORT] {
        net::ensure_free(&format!("127.0.0.1:{port}"), "nothing (stop what listens there)")?;
    }
    let mut maildev = match &maildev_install {
        Some(install) => Some(MailDev::start(
            install,
            Some(maildev::port_or_free(maildev::DEFAULT_SMTP_PORT)?),
            Some(maildev::port_or_free(maildev::DEFAULT_WEB_PORT)?),
        )?),
        None => None,
    };
    // Stopped newest first: the edges before the origin they call.
    let mut services = Supervisor::default();
    let mut origin = child_env(cargo(&["run", "--quiet", "--release", "-p", "origin", "--", "serve"]), &config);
    origin.env("DATABASE_URL", database.url()).env("ORIGIN_ADDR", &origin_addr);
    if let Some(maildev) = &maildev {
        origin.env("SMTP_URL", maildev.smtp_url());
    }
    if env_file::lookup(&config, "MAIL_FROM").is_none() {
        origin.env("MAIL_FROM", DEFAULT_MAIL_FROM);
    }
    // The links in its mail lead to the edge, where clients call the API.
    if env_file::lookup(&config, "PUBLIC_URL").is_none() {
        origin.env("PUBLIC_URL", format!("http://127.0.0.1:{WORKERD_PORT}"));
    }
    services.spawn("origin", &mut origin)?;
    services.wait_until("origin", STARTUP_LIMIT, || net::get_status(probe, "/").is_some())?;

    // The edges read the same settings as the origin, and find it where it listens.
    let mut edge_vars: Vec<(&str, String)> = EDGE_SETTINGS
        .iter()
        .filter_map(|name| std::env::var(name).ok().or_else(|| env_file::lookup(&config, name)).map(|v| (*name, v)))
        .filter(|(name, _)| *name != "ORIGIN_URL")
        .collect();
    edge_vars.push(("ORIGIN_URL", format!("http://{probe}")));
    services.spawn("edge (wrangler dev)", &mut edge::wrangler_dev(&tools, WORKERD_PORT, &edge_vars)?)?;
    services
        .spawn("edge (wasmtime serve)", &mut edge::wasmtime_serve(&wasmtime, &component, WASMTIME_PORT, &edge_vars))?;
    for port in [WORKERD_PORT, WASMTIME_PORT] {
        let addr = net::reachable(&format!("127.0.0.1:{port}"))?;
        services.wait_until("the edge", STARTUP_LIMIT, || net::get_status(addr, "/").is_some())?;
    }
    eprintln!();
    eprintln!("origin:                     http://{probe}  (docs: http://{probe}/docs/)");
    if let Some(metrics) = env_file::lookup(&config, "METRICS_ADDR").filter(|addr| !addr.is_empty()) {
        eprintln!("origin's metrics:           http://{metrics}/metrics");
    }
    eprintln!("edge on workerd (wrangler): http://127.0.0.1:{WORKERD_PORT}");
    eprintln!("edge on wasmtime (WASI):    http://127.0.0.1:{WASMTIME_PORT}");
    match &maildev {
        Some(maildev) => eprintln!("mail (MailDev):             {}  (SMTP: {})", maildev.web_url(), maildev.smtp_url()),
        None => eprintln!("mail:                       to SMTP_URL as set (no MailDev)"),
    }
    let origin_bin = target_dir().join("release").join("origin");
    eprintln!("make an admin (in another terminal; the password is read from standard input):");
    eprintln!("  DATABASE_URL={} {} create-admin --username admin", database.url(), origin_bin.display());
    eprintln!("xtask: Ctrl-C stops everything");

    let result = services.wait(|| maildev.as_mut().map_or(Ok(()), MailDev::check_running));
    // The services go before the database they use, and MailDev after the origin that sends to it.
    drop(services);
    drop(maildev);
    drop(database);
    result
}

/// `config/.env`, written from the example on first use.
fn load_config() -> Result<BTreeMap<String, String>> {
    let config_dir = root().join("config");
    let target = config_dir.join(".env");
    let example = config_dir.join(".env.example");
    if !target.exists() && example.exists() {
        let generated = env_file::create_from_example(&target, &example)?.unwrap_or_default();
        let secrets = if generated.is_empty() {
            String::new()
        } else {
            format!(", with a freshly generated {}", generated.join(" and "))
        };
        eprintln!("xtask: wrote config/.env from config/.env.example{secrets}");
    }
    if target.exists() {
        let config = env_file::load(&target)?;
        write_dev_vars(&config)?;
        Ok(config)
    } else {
        eprintln!("xtask: no config/.env or config/.env.example; using the environment only");
        Ok(BTreeMap::new())
    }
}

/// `.dev.vars`, the secrets `npx wrangler dev` reads when run by hand: the same as the origin's,
/// written once from config/.env. (`cargo xtask run` passes them to wrangler itself.)
fn write_dev_vars(config: &BTreeMap<String, String>) -> Result<()> {
    let path = root().join(".dev.vars");
    if path.exists() {
        return Ok(());
    }
    let lines: Vec<String> = ["JWT_SECRET", "JWT_KEYS", "EDGE_SERVICE_TOKEN"]
        .iter()
        .filter_map(|name| env_file::lookup(config, name).map(|value| format!("{name}={value}\n")))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all(lines.concat().as_bytes())?;
    eprintln!("xtask: wrote .dev.vars (the edge's secrets for `npx wrangler dev`) from config/.env");
    Ok(())
}

/// The file's settings for a child, under whatever the real environment already sets.
fn child_env(mut command: Command, config: &BTreeMap<String, String>) -> Command {
    command.envs(env_file::missing_from_env(config));
    command
}
