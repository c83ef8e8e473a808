//! One black-box conformance suite, run against several targets in the same run: same requests,
//! same answers.
//!
//! `conformance --admin USERNAME:PASSWORD [--maildev URL] NAME=BASE_URL [NAME=BASE_URL ...]`
//!
//! The first target is the reference. All targets share one origin and database, where the admin
//! account exists (`origin create-admin`) and second factors can be turned on
//! (`MFA_ENCRYPTION_KEYS`); each target plays the whole scenario with its own users. Every failure is one line naming the case, the target and what differed; the last line
//! is `N passed, M failed`, counting case × target checks; the exit code is 1 when any failed.
#![allow(
    clippy::disallowed_methods,
    reason = "a test tool against real hosts: it reads the real clock and waits for them"
)]

mod attack;
mod cases;
mod client;
mod compare;
mod gate;
mod mail;
mod stepup;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use cases::{Case, MailWait, Step, Vars};
use client::{Client, Response};
use compare::{Compare, contains, cut, diff};

const USAGE: &str = "usage: conformance --admin USERNAME:PASSWORD [--origin-log FILE [--origin-metrics URL]] [--maildev URL] NAME=BASE_URL [NAME=BASE_URL ...]
  e.g. conformance --admin admin:secret origin=http://127.0.0.1:8000 workerd=http://127.0.0.1:8787
  The first target is the reference; every target must answer every case as it does.
  With --maildev (the web address of the MailDev the origin sends its mail to), each target's own
  user then follows mailed links: sign-up's confirmation, a password reset (the old password and
  the tokens from before refused, the link spent), an email change confirmed by its new address.
  Each target's own user also turns a second factor (TOTP) on and logs in with it: the origin
  needs MFA_ENCRYPTION_KEYS.
  With --origin-log (the file the origin logs to), every other target (an edge) must also answer
  forged tokens itself: their request ids must never appear in the origin's log, while a good
  request's id must. With --origin-metrics (the origin's /metrics URL) that good request must also
  be counted there, once.

       conformance --attack [--address-header NAME:HEADER ...] NAME=BASE_URL [NAME=BASE_URL ...]
  The lockout attack on each target (an edge in front of an origin with its default login limits):
  strangers' failures must not keep the owner out. A target whose host trusts a client address
  header (e.g. wrangler:cf-connecting-ip) is attacked from 30 addresses, others from none.

       conformance --step-up PREFIX:PASSWORD [--origin-metrics URL] NAME=BASE_URL [NAME=BASE_URL ...]
  RFC 9470's step-up, with the origin and every edge host under REQUIRE_AAL2=admin: each target's
  admin PREFIX-NAME (origin create-admin, no second factor yet), logged in with the password, must
  get the challenge on admin routes (401, WWW-Authenticate: Bearer
  error=\"insufficient_user_authentication\", ...) and, once TOTP is on, the confirmation's aal2 token
  must pass. With --origin-metrics, the origin must count none of the refused requests of the
  targets after the first (the origin itself), and the aal2 GET /users/admin once.";

struct Target {
    name: String,
    base: String,
}

struct Args {
    /// `--attack`: the lockout attack instead of the suite, with each target's address header.
    attack: Option<Vec<(String, String)>>,
    /// `--step-up`: the step-up instead of the suite, with the admins' prefix and password.
    step_up: Option<(String, String)>,
    admin_user: String,
    admin_password: String,
    origin_log: Option<std::path::PathBuf>,
    origin_metrics: Option<String>,
    maildev: Option<String>,
    targets: Vec<Target>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut admin = None;
    let mut origin_log = None;
    let mut origin_metrics = None;
    let mut maildev = None;
    let mut targets: Vec<Target> = Vec::new();
    let mut attack: Option<Vec<(String, String)>> = None;
    let mut step_up = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Err(String::new());
        } else if arg == "--attack" {
            attack.get_or_insert_with(Vec::new);
        } else if arg == "--address-header" {
            let value = args.next().ok_or("--address-header needs NAME:HEADER")?;
            let (name, header) = value.split_once(':').ok_or("--address-header takes NAME:HEADER")?;
            attack.get_or_insert_with(Vec::new).push((name.to_owned(), header.to_ascii_lowercase()));
        } else if arg == "--step-up" {
            let value = args.next().ok_or("--step-up needs PREFIX:PASSWORD")?;
            let (prefix, password) = value.split_once(':').ok_or("--step-up takes PREFIX:PASSWORD")?;
            step_up = Some((prefix.to_owned(), password.to_owned()));
        } else if arg == "--admin" {
            admin = Some(args.next().ok_or("--admin needs USERNAME:PASSWORD")?);
        } else if let Some(value) = arg.strip_prefix("--admin=") {
            admin = Some(value.to_owned());
        } else if arg == "--origin-log" {
            origin_log = Some(args.next().ok_or("--origin-log needs a FILE")?.into());
        } else if arg == "--origin-metrics" {
            origin_metrics = Some(args.next().ok_or("--origin-metrics needs a URL")?);
        } else if arg == "--maildev" {
            let url = args.next().ok_or("--maildev needs a URL")?;
            if !url.starts_with("http://") {
                return Err(format!("--maildev {url:?} is not an http:// URL"));
            }
            maildev = Some(url);
        } else if let Some((name, url)) = arg.split_once('=') {
            let name_ok = (1..=32).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !name_ok {
                return Err(format!("target name {name:?}: 1 to 32 letters, digits, - or _"));
            }
            if targets.iter().any(|t| t.name.eq_ignore_ascii_case(name)) {
                return Err(format!("target name {name:?} given twice"));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("target {name}: {url:?} is not an http:// or https:// URL"));
            }
            targets.push(Target { name: name.to_owned(), base: url.trim_end_matches('/').to_owned() });
        } else {
            return Err(format!("unexpected argument {arg:?}"));
        }
    }
    if attack.is_some() && step_up.is_some() {
        return Err("--attack and --step-up are two runs".into());
    }
    let admin = match admin {
        Some(admin) => admin,
        None if attack.is_some() || step_up.is_some() => ":".to_owned(),
        None => return Err("--admin USERNAME:PASSWORD is required".into()),
    };
    let (admin_user, admin_password) = admin.split_once(':').ok_or("--admin takes USERNAME:PASSWORD")?;
    if targets.is_empty() {
        return Err("no target: give at least one NAME=BASE_URL".into());
    }
    if origin_metrics.is_some() && origin_log.is_none() && step_up.is_none() {
        return Err("--origin-metrics goes with --origin-log".into());
    }
    Ok(Args {
        attack,
        step_up,
        admin_user: admin_user.to_owned(),
        admin_password: admin_password.to_owned(),
        origin_log,
        origin_metrics,
        maildev,
        targets,
    })
}

/// Eight base-36 characters, different on every run (the standard library's random hash keys).
fn run_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default());
    hasher.write_u32(std::process::id());
    let mut n = hasher.finish();
    (0..8)
        .map(|_| {
            let digit = (n % 36) as u32;
            n /= 36;
            char::from_digit(digit, 36).unwrap_or('0')
        })
        .collect()
}

/// A target's answer to a case, its body parsed when it is JSON.
struct Answer {
    response: Response,
    json: Option<Value>,
}

impl Answer {
    fn body_text(&self) -> String {
        cut(&String::from_utf8_lossy(&self.response.body), 300)
    }
}

/// One target's play of the scenario.
struct Run {
    target: Target,
    tag: String,
    vars: Vars,
    answers: HashMap<&'static str, Result<Answer, String>>,
    /// Requests that failed in a row (no answer at all).
    unreachable: usize,
}

/// A target that gave no answer this many times in a row is not asked again, so a dead or hung
/// target costs seconds, not a timeout per case.
const GIVE_UP_AFTER: usize = 3;

impl Run {
    /// Sends the case, checks the answer against the case's expectations, saves what later cases
    /// need; the problems found.
    fn play(&mut self, case: &Case, client: &Client) -> Vec<String> {
        let outcome = case.request(&self.vars).and_then(|request| {
            if self.unreachable >= GIVE_UP_AFTER {
                return Err(format!("not sent: the last {GIVE_UP_AFTER} requests to {} failed", self.target.base));
            }
            let response = client.send(&self.target.base, &request).map_err(|e| {
                self.unreachable += 1;
                format!("request failed: {e}")
            })?;
            self.unreachable = 0;
            let json = serde_json::from_slice(&response.body).ok();
            Ok(Answer { response, json })
        });
        let problems = match &outcome {
            Ok(answer) => self.check(case, answer),
            Err(error) => vec![error.clone()],
        };
        self.answers.insert(case.name, outcome);
        problems
    }

    /// Plays a step that sends the target nothing (a mail read, an authenticator's code, a check
    /// of a saved token's claims); the problems found. A case is [`Run::play`]'s.
    fn own_step(&mut self, step: &Step, maildev: Option<&mail::MailDev>, client: &Client) -> Vec<String> {
        match (step, maildev) {
            (Step::Mail(wait), Some(maildev)) => self.read_mail(wait, maildev, client),
            (Step::Mail(wait), None) => vec![format!("{}: no --maildev to read the mail from", wait.name)],
            (Step::Totp(totp), _) => match totp.play(&mut self.vars) {
                Ok(()) => Vec::new(),
                Err(error) => vec![error],
            },
            (Step::Claims(check), _) => check.check(&self.vars),
            (Step::Case(case), _) => vec![format!("{}: a case, not a step of the target's own", case.name)],
        }
    }

    /// Waits for the link the step names in this target's user's mail, and saves its token.
    fn read_mail(&mut self, wait: &MailWait, maildev: &mail::MailDev, client: &Client) -> Vec<String> {
        let to = match self.vars.fill(wait.to, str::to_owned) {
            Ok(to) => to,
            Err(error) => return vec![error],
        };
        match maildev.wait_for_link(client, &to, wait.page) {
            Ok(token) => {
                self.vars.set(wait.save, &token);
                Vec::new()
            }
            Err(error) => vec![error],
        }
    }

    fn check(&mut self, case: &Case, answer: &Answer) -> Vec<String> {
        let status = answer.response.status;
        if status != case.status {
            return vec![format!("status {status}, expected {}; body: {}", case.status, answer.body_text())];
        }
        let mut problems = Vec::new();
        for (name, pointer) in &case.save {
            // A string as it is, a number (an id) in its decimal form.
            let value = answer.json.as_ref().and_then(|j| j.pointer(pointer)).and_then(|value| match value {
                Value::String(text) => Some(text.clone()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            });
            match value {
                Some(value) => self.vars.set(name, &value),
                None => problems.push(format!("no string or number at {pointer} to save as {{{name}}}")),
            }
        }
        if case.compare == Compare::Status {
            return problems;
        }
        for (name, want) in &case.expect_headers {
            let got = answer.response.header(name);
            if got.as_deref() != Some(*want) {
                problems.push(format!("header {name}: {got:?}, expected {want:?}"));
            }
        }
        for name in &case.required_headers {
            if answer.response.header(name).is_none() {
                problems.push(format!("header {name} missing"));
            }
        }
        let json = answer.json.as_ref();
        if case.method == "HEAD" {
            // A HEAD answer has no body to check: its status and headers are the case.
            if !answer.response.body.is_empty() {
                problems.push(format!("HEAD answered with a body: {}", answer.body_text()));
            }
            return problems;
        }
        if status >= 400 {
            match json {
                Some(body) => problems.extend(compare::check_error_body(body)),
                None => problems.push(format!("error body is not JSON: {}", answer.body_text())),
            }
        } else {
            problems.extend(compare::check_schema(case.schema, json, &answer.response.body));
            if let (Some(body), Compare::Auto | Compare::Shape) = (json, case.compare) {
                compare::normalise(body, &self.tag, &mut problems);
            }
        }
        match (case.expected_body(&self.vars), json) {
            (Ok(None), _) => {}
            (Ok(Some(expected)), Some(body)) => {
                let mut missing = Vec::new();
                contains(&expected, body, "", &mut missing);
                problems.extend(missing.into_iter().map(|m| format!("body {m}")));
            }
            (Ok(Some(_)), None) => problems.push(format!("expected a JSON body, got: {}", answer.body_text())),
            (Err(error), _) => problems.push(error),
        }
        if let Some(earlier) = case.same_as {
            match self.answers.get(earlier) {
                Some(Ok(before)) => {
                    let differences = differences(case, before, &self.tag, answer, &self.tag);
                    problems.extend(differences.into_iter().map(|d| format!("this case vs {earlier:?}: {d}")));
                }
                _ => problems.push(format!("cannot compare with case {earlier:?}: it got no answer")),
            }
        }
        problems
    }
}

/// How `answer` (tag `tag`) differs from `reference` (tag `reference_tag`) for this case.
fn differences(case: &Case, reference: &Answer, reference_tag: &str, answer: &Answer, tag: &str) -> Vec<String> {
    let (a, b) = (&reference.response, &answer.response);
    if a.status != b.status {
        return vec![format!("status {} vs {}", b.status, a.status)];
    }
    if case.compare == Compare::Status {
        return Vec::new();
    }
    let mut out = Vec::new();
    for name in &case.compared_headers {
        let (ha, hb) = (a.header(name), b.header(name));
        if ha != hb {
            out.push(format!("header {name}: {hb:?} vs {ha:?}"));
        }
    }
    let exact = case.compare == Compare::Exact || (case.compare == Compare::Auto && a.status >= 400);
    match (&reference.json, &answer.json) {
        (Some(ja), Some(jb)) => {
            let (na, nb) = if exact {
                (compare::untag(ja, reference_tag), compare::untag(jb, tag))
            } else {
                let na = compare::normalise(ja, reference_tag, &mut Vec::new());
                let nb = compare::normalise(jb, tag, &mut Vec::new());
                match case.compare {
                    Compare::Shape => (compare::skeleton(&na), compare::skeleton(&nb)),
                    _ => (na, nb),
                }
            };
            let lines = diff(&nb, &na);
            if !lines.is_empty() {
                out.push(format!("body: {}", lines.join("; ")));
            }
        }
        _ => {
            let untag = |bytes: &[u8], tag: &str| String::from_utf8_lossy(bytes).replace(tag, "<tag>");
            if untag(&a.body, reference_tag) != untag(&b.body, tag) {
                out.push(format!("body: {} vs {}", answer.body_text(), reference.body_text()));
            }
        }
    }
    out
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) if error.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("conformance: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let id = run_id();
    if let Some(headers) = &args.attack {
        return attack_all(&args.targets, headers, &id);
    }
    if let Some((prefix, password)) = &args.step_up {
        return step_up_all(&args.targets, prefix, password, args.origin_metrics.as_deref());
    }
    let mut steps: Vec<Step> = cases::cases().into_iter().map(Step::Case).collect();
    let maildev = args.maildev.as_deref().map(mail::MailDev::new);
    if maildev.is_some() {
        steps.extend(cases::mail_steps());
    }
    steps.extend(cases::mfa_steps());
    let names: Vec<&str> = args.targets.iter().map(|t| t.name.as_str()).collect();
    let with_mail = if maildev.is_some() { ", the mail round trips among them" } else { "" };
    eprintln!(
        "conformance: run {id}: {} steps{with_mail} on {} (reference: {})",
        steps.len(),
        names.join(", "),
        names[0]
    );
    let client = Client::new();
    let mut runs: Vec<Run> = args
        .targets
        .into_iter()
        .map(|target| {
            let tag = format!("c{id}-{}", target.name.to_ascii_lowercase());
            let vars = Vars::new(&tag, &args.admin_user, &args.admin_password);
            Run { target, tag, vars, answers: HashMap::new(), unreachable: 0 }
        })
        .collect();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut out = std::io::stdout().lock();
    for step in &steps {
        let case = match (step, &maildev) {
            (Step::Case(case), _) => case,
            (Step::Mail(_), None) => continue,
            // A step that asks no target anything: each target's own, counted and reported alike.
            (own, maildev) => {
                for run in &mut runs {
                    let problems = run.own_step(own, maildev.as_ref(), &client);
                    if problems.is_empty() {
                        passed += 1;
                    } else {
                        failed += 1;
                    }
                    for problem in problems {
                        let _ = writeln!(out, "FAIL {} [{}]: {problem}", own.name(), run.target.name);
                    }
                }
                continue;
            }
        };
        let mut problems: Vec<Vec<String>> = runs.iter_mut().map(|run| run.play(case, &client)).collect();
        let reference = &runs[0];
        for (run, problems) in runs.iter().zip(problems.iter_mut()).skip(1) {
            let here = run.answers.get(case.name);
            match (reference.answers.get(case.name), here) {
                (Some(Ok(a)), Some(Ok(b))) => {
                    let found = differences(case, a, &reference.tag, b, &run.tag);
                    let prefix = format!("{} vs {}", run.target.name, reference.target.name);
                    problems.extend(found.into_iter().map(|d| format!("{prefix}: {d}")));
                }
                (_, Some(Ok(_))) => {
                    problems.push(format!("not compared: the reference {} got no answer", reference.target.name));
                }
                _ => {}
            }
        }
        for (run, problems) in runs.iter().zip(&problems) {
            if problems.is_empty() {
                passed += 1;
            } else {
                failed += 1;
            }
            for problem in problems {
                // A closed stdout (`| head`) must not stop the run: its exit code still tells.
                let _ = writeln!(out, "FAIL {} [{}]: {problem}", case.name, run.target.name);
            }
        }
    }
    if let Some(log) = &args.origin_log {
        for run in runs.iter().skip(1) {
            let problems = gate::never_reaches_origin(
                &client,
                &run.target.base,
                gate::Origin { log, metrics: args.origin_metrics.as_deref() },
                &id,
                (&args.admin_user, &args.admin_password),
            );
            if problems.is_empty() {
                passed += 1;
            } else {
                failed += 1;
            }
            for problem in problems {
                let _ = writeln!(out, "FAIL forged tokens never reach the origin [{}]: {problem}", run.target.name);
            }
        }
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    let _ = out.flush();
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// `--attack`: the lockout attack on every target, each with its own users.
fn attack_all(targets: &[Target], headers: &[(String, String)], id: &str) -> ExitCode {
    let client = Client::new();
    let mut failed = false;
    for target in targets {
        let header = headers.iter().find(|(name, _)| *name == target.name).map(|(_, header)| header.as_str());
        let tag = format!("a{id}-{}", target.name.to_ascii_lowercase());
        let problems = attack::play(&client, &target.base, header, &tag);
        let from = header.map_or_else(|| "no client address".to_owned(), |h| format!("addresses in {h}"));
        if problems.is_empty() {
            println!("attack on {} ({from}): the owner got in", target.name);
        }
        for problem in &problems {
            println!("FAIL attack on {} ({from}): {problem}", target.name);
        }
        failed |= !problems.is_empty();
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// `--step-up`: the step-up on every target, each with its own admin.
fn step_up_all(targets: &[Target], prefix: &str, password: &str, origin_metrics: Option<&str>) -> ExitCode {
    let client = Client::new();
    let mut failed = false;
    for (at, target) in targets.iter().enumerate() {
        let username = format!("{prefix}-{}", target.name);
        // The first target is the origin: it answers the refused requests itself.
        let metrics = origin_metrics.filter(|_| at > 0);
        let on = stepup::Target { base: &target.base, origin_metrics: metrics };
        let problems = stepup::play(&client, &on, &username, password);
        if problems.is_empty() {
            let unseen = if metrics.is_some() { ", the origin saw none of it" } else { "" };
            println!(
                "step-up on {}: {username}'s aal1 token got the challenge{unseen}; with TOTP on, its aal2 token passed",
                target.name
            );
        }
        for problem in &problems {
            println!("FAIL step-up [{}]: {problem}", target.name);
        }
        failed |= !problems.is_empty();
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        let parsed = args(&["--admin", "root:pa:ss", "origin=http://a:1/", "edge=https://b"]).unwrap();
        assert_eq!((parsed.admin_user.as_str(), parsed.admin_password.as_str()), ("root", "pa:ss"));
        assert_eq!(parsed.targets[0].base, "http://a:1");
        assert_eq!(parsed.targets[1].name, "edge");
        assert!(args(&["origin=http://a"]).is_err());
        assert!(args(&["--admin=a:b"]).is_err());
        assert!(args(&["--admin=a:b", "x=ftp://a"]).is_err());
        assert!(args(&["--admin=a:b", "x=http://a", "X=http://b"]).is_err());
        assert!(args(&["--admin=a:b", "x y=http://a"]).is_err());
        let parsed = args(&["--admin=a:b", "--maildev", "http://127.0.0.1:1080", "x=http://a"]).unwrap();
        assert_eq!(parsed.maildev.as_deref(), Some("http://127.0.0.1:1080"));
        assert!(args(&["--admin=a:b", "--maildev"]).is_err());
        assert!(args(&["--admin=a:b", "--maildev", "127.0.0.1:1080", "x=http://a"]).is_err());
        let parsed =
            args(&["--step-up", "stepup:pa:ss", "--origin-metrics", "http://m/metrics", "x=http://a"]).unwrap();
        assert_eq!(parsed.step_up, Some(("stepup".to_owned(), "pa:ss".to_owned())));
        assert!(args(&["--step-up", "no-colon", "x=http://a"]).is_err());
        assert!(args(&["--step-up", "a:b", "--attack", "x=http://a"]).is_err());
    }

    #[test]
    fn run_ids_differ() {
        assert_ne!(run_id(), run_id());
        assert_eq!(run_id().len(), 8);
    }
}
