//! Long-running services (the origin today, an edge next to it later) live as long as xtask does:
//! the first one to exit, or a Ctrl-C, ends them all, the last started first.

use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::{interrupt, process};

const POLL: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct Supervisor {
    services: Vec<Service>,
}

struct Service {
    name: String,
    child: Child,
}

impl Supervisor {
    pub fn spawn(&mut self, name: &str, command: &mut Command) -> Result<()> {
        let child = process::spawn(command)?;
        self.services.push(Service { name: name.to_owned(), child });
        Ok(())
    }

    /// Waits until `ready` says yes, failing early if a service dies or the user interrupts.
    pub fn wait_until(&mut self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            interrupt::check()?;
            self.check_all_running()?;
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::failed(format!("{what} was not ready after {} s", timeout.as_secs())));
            }
            sleep(POLL);
        }
    }

    /// Blocks until a service exits (an error: services are meant to run until stopped), `check`
    /// fails (for a service a handle of its own runs, such as MailDev), or the user interrupts.
    pub fn wait(&mut self, mut check: impl FnMut() -> Result<()>) -> Result<()> {
        loop {
            interrupt::check()?;
            self.check_all_running()?;
            check()?;
            sleep(POLL);
        }
    }

    /// Fails if a service has exited.
    pub fn check_all_running(&mut self) -> Result<()> {
        for service in &mut self.services {
            if let Some(status) = service.child.try_wait()? {
                return Err(Error::failed(format!("{} exited ({status})", service.name)));
            }
        }
        Ok(())
    }

    /// Stops the services, newest first, so none loses what it depends on while still running.
    pub fn stop_all(&mut self) {
        while let Some(mut service) = self.services.pop() {
            if matches!(service.child.try_wait(), Ok(None)) {
                eprintln!("xtask: stopping {}", service.name);
            }
            process::stop(&mut service.child, Signal::SIGTERM);
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_all();
    }
}
