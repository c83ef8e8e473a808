//! The fault test (`cargo xtask faults`, a step of `cargo xtask test`): the release origin on a
//! private cluster of its own (never `DATABASE_URL`'s server: the test kills it), under
//! concurrent load (`GET /users` with a token) and a sign-up loop, while PostgreSQL is restarted
//! fast, then killed (SIGKILL to every server process), kept down, and started again.
//!
//! It fails on any answer of 500 or more other than 503 (and on any other answer than 200 or 503
//! to `GET /users`, 201 or 503 to a sign-up), on a connection the origin refused or left without
//! an answer (it must stay up, and answer 503 while the database is away), if the origin does not
//! serve again within [`RECOVERY_LIMIT`] of each fault without a restart, if a sign-up answered
//! 201 is not stored, if a sign-up not answered 201 is stored unless it was in flight while the
//! server was being stopped or killed (its commit may have been done and its answer lost with the
//! connection: "in flight at a fault" in the summary), and if the origin's log during the
//! outage grows with the requests: it must stay under [`LOG_BOUND`], with at most one
//! "database unavailable" line per ten seconds of outage and a few more.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::http1::{Client, Failure};
use crate::postgres::{self, Cluster};
use crate::summary::Outcome;
use crate::supervisor::Supervisor;
use crate::workspace::{cargo, target_dir};
use crate::{interrupt, net, process, psql, random};

/// Threads reading `GET /users`, besides the one that signs up.
const READERS: usize = 8;
/// Load before the first fault.
const WARM_UP: Duration = Duration::from_secs(3);
/// Load between the fast restart and the kill.
const AFTER_RESTART: Duration = Duration::from_secs(4);
/// How long PostgreSQL stays down after the kill, under load.
const DOWN: Duration = Duration::from_secs(6);
/// Load after PostgreSQL is back.
const AFTER_START: Duration = Duration::from_secs(5);
/// Within this of the server accepting connections again, the origin must serve a read and a
/// sign-up again.
const RECOVERY_LIMIT: Duration = Duration::from_secs(3);
/// The origin's wait for a database connection: short, so the outage's 503s come fast.
const DB_TIMEOUT_MS: &str = "500";
/// What the origin may write to its log during the whole outage, however many requests it
/// answers 503: a line per failed request would pass it within a second of load.
const LOG_BOUND: u64 = 64 * 1024;
/// A request that takes longer has no answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
const DATABASE: &str = "faults";
/// Of the users the test signs up; at least 15 characters, not common, without the username.
const PASSWORD: &str = "amber-kettle-drums-61";

pub fn run() -> Result<Outcome> {
    if !postgres::server_binaries_found() {
        return Ok(Outcome::Skipped(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: the fault test needs a private \
             cluster it may kill"
                .to_owned(),
        ));
    }
    eprintln!("xtask: building origin (release; the first build takes a few minutes)");
    process::run(&mut cargo(&["build", "--release", "-p", "origin"]))?;
    let origin = target_dir().join("release").join("origin");

    // Dropped in reverse: the origin stops before its database.
    let mut cluster = Cluster::start()?;
    psql::create_database(&cluster.url("postgres"), DATABASE)?;
    let url = cluster.url(DATABASE);
    let log_path = target_dir().join("faults-origin.log");
    let log = File::create(&log_path)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
    let mut services = Supervisor::default();
    let mut serve = Command::new(&origin);
    serve
        .arg("serve")
        // Outside the workspace, so a developer's config/.env does not change the test.
        .current_dir(target_dir())
        .env("ORIGIN_ADDR", addr.to_string())
        .env("METRICS_ADDR", "")
        .env("DATABASE_URL", &url)
        .env("JWT_SECRET", random::hex(32)?)
        .env("PBKDF2_ITERATIONS", "1000")
        .env("DB_TIMEOUT_MS", DB_TIMEOUT_MS)
        // The default: a line per request is the origin's normal behaviour, and the log's bound
        // must hold with it.
        .env("RUST_LOG", "info")
        .env_remove("LOG_FORMAT")
        .envs(crate::e2e::RELAXED_LIMITS)
        .stderr(log);
    services.spawn("origin", &mut serve)?;
    services.wait_until("origin", STARTUP_LIMIT, || net::get_status(addr, "/") == Some(200))?;
    let result = exercise(&mut cluster, &mut services, addr, &url, &log_path);
    services.stop_all();
    result.map_err(|error| match error {
        Error::Failed(message) => Error::failed(format!("{message}\n(the origin's log: {})", log_path.display())),
        interrupted @ Error::Interrupted => interrupted,
    })
}

/// What a request got.
enum Reply {
    Status(u16),
    /// The origin did not accept the connection.
    Refused(String),
    /// It accepted it but gave no whole answer.
    NoAnswer(String),
}

struct Event {
    sent: Instant,
    answered: Instant,
    reply: Reply,
}

impl Event {
    fn status(&self) -> Option<u16> {
        match self.reply {
            Reply::Status(status) => Some(status),
            _ => None,
        }
    }

    /// Whether the request was open at some moment of `window`.
    fn overlaps(&self, window: &Window) -> bool {
        self.sent < window.ended && self.answered > window.began
    }
}

/// When a fault was being made.
struct Window {
    began: Instant,
    ended: Instant,
}

struct Timeline {
    /// The fast restart: `stop` while the server shut down, `restart` until it accepted
    /// connections again.
    stop: Window,
    restart: Window,
    /// Until the SIGKILL was sent: no commit can happen after it.
    kill: Window,
    start: Window,
    /// The log's size just before the kill and just before the start: the outage's bytes.
    log_at_kill: u64,
    log_at_start: u64,
}

fn exercise(
    cluster: &mut Cluster,
    services: &mut Supervisor,
    addr: SocketAddr,
    url: &str,
    log_path: &Path,
) -> Result<Outcome> {
    let tag = random::hex(4)?;
    let bearer = format!("Bearer {}", sign_in(addr, &format!("fault{tag}load"))?);
    let prefix = format!("fault{tag}u");
    let stop = AtomicBool::new(false);
    eprintln!("xtask: {READERS} readers and a sign-up loop on the origin; faults follow");
    let (timeline, reads, sign_ups) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS).map(|_| scope.spawn(|| read_loop(addr, &bearer, &stop))).collect();
        let signer = scope.spawn(|| sign_up_loop(addr, &prefix, &stop));
        let timeline = drive(cluster, services, log_path);
        stop.store(true, Ordering::SeqCst);
        let mut reads = Vec::new();
        for reader in readers {
            reads.extend(reader.join().map_err(|_| Error::failed("a load thread panicked"))?);
        }
        let sign_ups = signer.join().map_err(|_| Error::failed("the sign-up thread panicked"))?;
        Ok::<_, Error>((timeline, reads, sign_ups))
    })?;
    let timeline = timeline?;
    // Never restarted: the process started before the faults still runs.
    services.check_all_running()?;
    let stored: BTreeSet<String> =
        psql::query(url, &format!("SELECT username FROM users WHERE username LIKE '{prefix}%'"))?.into_iter().collect();
    let log = std::fs::read(log_path)?;
    judge(&timeline, &reads, &sign_ups, &stored, &log)
}

/// The faults, with load running all along; the origin must stay up throughout.
fn drive(cluster: &mut Cluster, services: &mut Supervisor, log_path: &Path) -> Result<Timeline> {
    let size = || std::fs::metadata(log_path).map(|meta| meta.len());
    pause(services, WARM_UP)?;
    let stop = timed(|| cluster.stop_fast())?;
    let start = timed(|| cluster.start_again())?;
    let restart = Window { began: stop.began, ended: start.ended };
    eprintln!("xtask: PostgreSQL restarted (fast) in {} ms", millis(restart.ended - restart.began));
    pause(services, AFTER_RESTART)?;
    let log_at_kill = size()?;
    let began = Instant::now();
    let killed = cluster.kill()?;
    let kill = Window { began, ended: killed };
    eprintln!("xtask: PostgreSQL killed (SIGKILL); down for {} s", DOWN.as_secs());
    pause(services, DOWN)?;
    let log_at_start = size()?;
    let start = timed(|| cluster.start_again())?;
    eprintln!("xtask: PostgreSQL started again (crash recovery) in {} ms", millis(start.ended - start.began));
    pause(services, AFTER_START)?;
    Ok(Timeline { stop, restart, kill, start, log_at_kill, log_at_start })
}

fn timed(fault: impl FnOnce() -> Result<()>) -> Result<Window> {
    let began = Instant::now();
    fault()?;
    Ok(Window { began, ended: Instant::now() })
}

/// Waits, failing at once if the origin exits or the user interrupts.
fn pause(services: &mut Supervisor, length: Duration) -> Result<()> {
    let deadline = Instant::now() + length;
    while Instant::now() < deadline {
        interrupt::check()?;
        services.check_all_running()?;
        sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Signs up `username` and logs in: its access token.
fn sign_in(addr: SocketAddr, username: &str) -> Result<String> {
    let mut client = Client::new(addr, REQUEST_TIMEOUT);
    let status = client.request("POST", "/users", &[], Some(&sign_up_body(username))).map(|answer| answer.status);
    if !matches!(status, Ok(201)) {
        return Err(Error::failed(format!("signing up {username}: {}", describe(status))));
    }
    let login = format!(r#"{{"username":"{username}","password":"{PASSWORD}"}}"#);
    let answer = client
        .request("POST", "/auth/login", &[], Some(&login))
        .map_err(|failure| Error::failed(format!("logging in: {}", failure_text(&failure))))?;
    let body = String::from_utf8_lossy(&answer.body);
    let token = body
        .split_once(r#""access_token":""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(token, _)| token.to_owned())
        .filter(|_| answer.status == 200);
    token.ok_or_else(|| Error::failed(format!("logging in: {} {body}", answer.status)))
}

fn sign_up_body(username: &str) -> String {
    format!(
        r#"{{"username":"{username}","email":"{username}@example.com","password":"{PASSWORD}","first_name":"Fault","last_name":"Test"}}"#
    )
}

fn read_loop(addr: SocketAddr, bearer: &str, stop: &AtomicBool) -> Vec<Event> {
    let mut client = Client::new(addr, REQUEST_TIMEOUT);
    let headers = [("Authorization", bearer)];
    let mut events = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        events.push(request(&mut client, "/users", &headers, None));
    }
    events
}

/// Signs up `{prefix}0`, `{prefix}1`, … one after the other until stopped.
fn sign_up_loop(addr: SocketAddr, prefix: &str, stop: &AtomicBool) -> Vec<(String, Event)> {
    let mut client = Client::new(addr, REQUEST_TIMEOUT);
    let mut events = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let username = format!("{prefix}{n}");
        let event = request(&mut client, "/users", &[], Some(&sign_up_body(&username)));
        events.push((username, event));
    }
    events
}

fn request(client: &mut Client, path: &str, headers: &[(&str, &str)], json: Option<&str>) -> Event {
    let method = if json.is_some() { "POST" } else { "GET" };
    let sent = Instant::now();
    let reply = match client.request(method, path, headers, json) {
        Ok(answer) => Reply::Status(answer.status),
        Err(Failure::Connect(error)) => Reply::Refused(error),
        Err(Failure::NoAnswer(error)) => Reply::NoAnswer(error),
    };
    if matches!(reply, Reply::Refused(_)) {
        // The origin is gone and the test fails; no need to spin meanwhile.
        sleep(Duration::from_millis(50));
    }
    Event { sent, answered: Instant::now(), reply }
}

fn judge(
    timeline: &Timeline,
    reads: &[Event],
    sign_ups: &[(String, Event)],
    stored: &BTreeSet<String>,
    log: &[u8],
) -> Result<Outcome> {
    let mut failures = Vec::new();
    let signed: Vec<&Event> = sign_ups.iter().map(|(_, event)| event).collect();
    let all: Vec<&Event> = reads.iter().chain(signed.iter().copied()).collect();

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for status in all.iter().filter_map(|event| event.status()) {
        *statuses.entry(status).or_default() += 1;
    }
    let server_errors: Vec<String> =
        statuses.iter().filter(|(status, _)| **status >= 500 && **status != 503).map(count).collect();
    if !server_errors.is_empty() {
        failures.push(format!("answers of 500 or more other than 503: {}", server_errors.join(", ")));
    }
    unexpected(&mut failures, "GET /users", reads.iter(), &[200, 503]);
    unexpected(&mut failures, "POST /users", signed.iter().copied(), &[201, 503]);
    let refused: Vec<&str> = all.iter().filter_map(|event| failure(&event.reply, true)).collect();
    let unanswered: Vec<&str> = all.iter().filter_map(|event| failure(&event.reply, false)).collect();
    for (what, errors) in [("the origin refused the connection", refused), ("the origin gave no answer", unanswered)] {
        if let Some(first) = errors.first() {
            failures.push(format!("{what} {} times (first: {first})", errors.len()));
        }
    }
    let outage = Window { began: timeline.kill.ended, ended: timeline.start.began };
    let outage_503s = reads.iter().filter(|event| event.status() == Some(503) && event.overlaps(&outage)).count();
    if outage_503s == 0 {
        failures.push("no 503 to a read while PostgreSQL was down: the load did not reach the origin".to_owned());
    }

    // Back without a restart of the origin: a read and a sign-up succeed soon after each fault.
    let mut recoveries = Vec::new();
    for (fault, back) in [("the fast restart", timeline.restart.ended), ("the kill", timeline.start.ended)] {
        let read = first_after(reads.iter(), back, 200);
        let sign_up = first_after(signed.iter().copied(), back, 201);
        match read.zip(sign_up).map(|(read, sign_up)| read.max(sign_up) - back) {
            Some(took) if took <= RECOVERY_LIMIT => recoveries.push(millis(took)),
            took => failures.push(format!(
                "after {fault}, no 200 to a read and 201 to a sign-up within {} ms of PostgreSQL accepting \
                 connections (took {})",
                millis(RECOVERY_LIMIT),
                took.map_or("forever".to_owned(), |took| format!("{} ms", millis(took)))
            )),
        }
    }

    // Every acknowledged sign-up is stored; an unacknowledged one only if it was in flight while
    // the server's processes were being stopped or killed: its commit may have been done, and
    // the answer lost with the connection. Once the server is down, nothing commits.
    let acknowledged: BTreeSet<&str> =
        sign_ups.iter().filter(|(_, event)| event.status() == Some(201)).map(|(name, _)| name.as_str()).collect();
    // Open while the fault was being made, or never answered, and not acknowledged.
    let open_during = |window: Option<&Window>| -> BTreeSet<&str> {
        sign_ups
            .iter()
            .filter(|(_, event)| event.status() != Some(201))
            .filter(|(_, event)| match window {
                Some(window) => event.overlaps(window),
                None => matches!(event.reply, Reply::NoAnswer(_)),
            })
            .map(|(name, _)| name.as_str())
            .collect()
    };
    let (at_stop, at_kill) = (open_during(Some(&timeline.stop)), open_during(Some(&timeline.kill)));
    let in_flight: BTreeSet<&str> = at_stop.iter().chain(&at_kill).chain(&open_during(None)).copied().collect();
    let lost: Vec<&str> = acknowledged.iter().filter(|name| !stored.contains(**name)).copied().collect();
    if !lost.is_empty() {
        failures.push(format!("{} sign-ups answered 201 but not stored: {}", lost.len(), lost.join(", ")));
    }
    let unacknowledged: Vec<&str> =
        stored.iter().map(String::as_str).filter(|name| !acknowledged.contains(name)).collect();
    if unacknowledged.len() > in_flight.len() {
        failures.push(format!(
            "{} sign-ups stored without a 201 ({}), more than the {} in flight at a fault",
            unacknowledged.len(),
            unacknowledged.join(", "),
            in_flight.len()
        ));
    }
    let unexplained: Vec<&str> = unacknowledged.iter().filter(|name| !in_flight.contains(**name)).copied().collect();
    if !unexplained.is_empty() {
        failures
            .push(format!("sign-ups stored after an answer other than 201, at no fault: {}", unexplained.join(", ")));
    }

    // The log during the outage: bounded, whatever the load.
    let outage_secs = (timeline.start.began - timeline.kill.began).as_secs_f64();
    let window = log.get(to_index(timeline.log_at_kill)..to_index(timeline.log_at_start)).unwrap_or_default();
    let log_bytes = window.len() as u64;
    let unavailable_lines =
        String::from_utf8_lossy(window).lines().filter(|line| line.contains("database unavailable")).count();
    // At most one line per ten seconds of outage, the first at once, and a few for the edges.
    let line_bound = (outage_secs / 10.0) as usize + 3;
    if log_bytes > LOG_BOUND {
        failures.push(format!(
            "the origin wrote {log_bytes} bytes to its log during the {outage_secs:.1} s outage, over the bound of \
             {LOG_BOUND}: its log grows with the requests"
        ));
    }
    // The restart's outage ended (the origin logs when the database answers again), so the kill's
    // is news: logged at once, with its own cause.
    if unavailable_lines == 0 {
        failures.push(format!("no log line says \"database unavailable\" during the {outage_secs:.1} s outage"));
    }
    if unavailable_lines > line_bound {
        failures.push(format!(
            "{unavailable_lines} log lines mention \"database unavailable\" during the {outage_secs:.1} s outage, \
             over {line_bound}"
        ));
    }

    let statuses: Vec<String> = statuses.iter().map(count).collect();
    let note = format!(
        "{} requests ({}); sign-ups: {} acknowledged, {} stored ({} without a 201), {} in flight at a fault ({} \
         at the kill, {} during the fast stop); back {} ms after the restart, {} ms after the kill; {log_bytes} log bytes, {unavailable_lines} \
         \"database unavailable\" lines in the {outage_secs:.1} s outage",
        all.len(),
        statuses.join(" "),
        acknowledged.len(),
        stored.len(),
        unacknowledged.len(),
        in_flight.len(),
        at_kill.len(),
        at_stop.len(),
        recoveries.first().map_or("-".to_owned(), u128::to_string),
        recoveries.get(1).map_or("-".to_owned(), u128::to_string),
    );
    eprintln!("xtask: {note}");
    if failures.is_empty() {
        Ok(Outcome::Passed(Some(note)))
    } else {
        Err(Error::failed(format!("the fault test failed:\n  {}", failures.join("\n  "))))
    }
}

/// When the first request sent at or after `back` was answered `status`.
fn first_after<'a>(events: impl Iterator<Item = &'a Event>, back: Instant, status: u16) -> Option<Instant> {
    events.filter(|event| event.sent >= back && event.status() == Some(status)).map(|event| event.answered).min()
}

/// The error of a refused connection (`refused`) or of a request left without an answer.
fn failure(reply: &Reply, refused: bool) -> Option<&str> {
    match reply {
        Reply::Refused(error) if refused => Some(error),
        Reply::NoAnswer(error) if !refused => Some(error),
        _ => None,
    }
}

/// Answers to `what` outside `allowed`.
fn unexpected<'a>(failures: &mut Vec<String>, what: &str, events: impl Iterator<Item = &'a Event>, allowed: &[u16]) {
    let mut others: BTreeMap<u16, usize> = BTreeMap::new();
    for status in events.filter_map(Event::status).filter(|status| !allowed.contains(status)) {
        *others.entry(status).or_default() += 1;
    }
    if !others.is_empty() {
        let others: Vec<String> = others.iter().map(count).collect();
        failures.push(format!("{what} answered {}", others.join(", ")));
    }
}

fn count((status, n): (&u16, &usize)) -> String {
    format!("{status}×{n}")
}

fn millis(duration: Duration) -> u128 {
    duration.as_millis()
}

fn to_index(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

fn describe(status: std::result::Result<u16, Failure>) -> String {
    match status {
        Ok(status) => format!("answered {status}"),
        Err(failure) => failure_text(&failure),
    }
}

fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Connect(error) | Failure::NoAnswer(error) => error.clone(),
    }
}
