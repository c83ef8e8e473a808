//! Every child runs in a process group of its own, so a Ctrl-C in the terminal reaches only
//! xtask; xtask then stops the children itself, in order, and the database last.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::error::{Context, Error, Result};
use crate::interrupt;

const POLL: Duration = Duration::from_millis(50);
/// How long a child may take to exit after a polite signal before it is killed.
pub const GRACE: Duration = Duration::from_secs(10);

pub fn spawn(command: &mut Command) -> Result<Child> {
    command
        .process_group(0)
        // A background process group that reads the terminal would be stopped by SIGTTIN.
        .stdin(Stdio::null())
        .spawn()
        .context(|| format!("cannot start {}", describe(command)))
}

/// Runs a step with its output shown, and fails unless it exits with 0. On an interrupt the
/// child gets the SIGINT it would have had from the terminal, then the error unwinds.
pub fn run(command: &mut Command) -> Result<()> {
    let status = run_status_within(command, None)?;
    check_status(command, status)
}

/// [`run`] with a hard time limit, for tools whose own bounds are not a promise about wall time.
pub fn run_within(command: &mut Command, limit: Duration) -> Result<()> {
    let status = run_status_within(command, Some(limit))?;
    check_status(command, status)
}

/// [`run`] for a cleanup, which must not be cut short: it runs to its end even after Ctrl-C (in a
/// process group of its own, the terminal's SIGINT does not reach it).
pub fn run_to_end(command: &mut Command) -> Result<()> {
    let status = command
        .process_group(0)
        .stdin(Stdio::null())
        .status()
        .context(|| format!("cannot run {}", describe(command)))?;
    check_status(command, status)
}

fn check_status(command: &Command, status: ExitStatus) -> Result<()> {
    if status.success() { Ok(()) } else { Err(Error::failed(format!("{} failed ({status})", describe(command)))) }
}

fn run_status_within(command: &mut Command, limit: Option<Duration>) -> Result<ExitStatus> {
    let deadline = limit.map(|limit| Instant::now() + limit);
    let mut child = spawn(command)?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if interrupt::requested() {
            stop(&mut child, Signal::SIGINT);
            return Err(Error::Interrupted);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            stop(&mut child, Signal::SIGINT);
            return Err(Error::failed(format!(
                "{} took longer than {} s and was stopped",
                describe(command),
                limit.unwrap_or_default().as_secs()
            )));
        }
        sleep(POLL);
    }
}

/// For short commands whose output xtask reads. Not interruptible: pg_ctl and psql are quick, and
/// cutting `pg_ctl start` short could leave a server running that nobody knows about.
pub fn output(command: &mut Command) -> Result<Output> {
    command.process_group(0).stdin(Stdio::null()).output().context(|| format!("cannot run {}", describe(command)))
}

/// Sends `signal` to the child's whole group (so `cargo run` takes its build with it), then
/// SIGKILL if the group's leader has not exited within [`GRACE`].
pub fn stop(child: &mut Child, signal: Signal) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let group = Pid::from_raw(child.id() as i32);
    let _ = killpg(group, signal);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        sleep(POLL);
    }
    let _ = killpg(group, Signal::SIGKILL);
    child.wait().ok()
}

/// The command as a user would type it: `cargo fmt`, not the toolchain's full path to cargo.
pub fn describe(command: &Command) -> String {
    let program = std::path::Path::new(command.get_program());
    let program = program.file_name().unwrap_or(program.as_os_str());
    let mut words = vec![program.to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|arg| arg.to_string_lossy().into_owned()));
    words.join(" ")
}
