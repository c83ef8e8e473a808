//! One Python virtual environment for the Python tools the tests use, kept outside the clone so
//! that CI runs and fresh clones reuse it.

use std::path::PathBuf;
use std::process::Command;

use crate::error::{Error, Result};
use crate::{process, tools};

pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// `~/.cache/jwt-auth-edge/venv` (or under `$XDG_CACHE_HOME`), made on first use.
    pub fn ensure() -> Result<Self> {
        let venv = Venv { dir: tools::user_cache("jwt-auth-edge")?.join("venv") };
        if venv.works() {
            return Ok(venv);
        }
        // A venv dies with the interpreter it was made from (a Python upgrade, a pyenv switch).
        if venv.dir.exists() {
            std::fs::remove_dir_all(&venv.dir)?;
        }
        let python =
            tools::which("python3").ok_or_else(|| Error::failed("python3 not found on PATH: install Python 3"))?;
        eprintln!("xtask: creating a Python venv in {}", venv.dir.display());
        process::run(Command::new(python).args(["-m", "venv"]).arg(&venv.dir)).map_err(|error| match error {
            Error::Failed(message) => Error::failed(format!(
                "{message}\n(on Debian, `apt-get install python3-venv` provides the venv module)"
            )),
            interrupted => interrupted,
        })?;
        Ok(venv)
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    fn works(&self) -> bool {
        let python = self.bin("python");
        tools::is_executable(&python)
            && process::output(Command::new(&python).args(["-c", ""])).is_ok_and(|output| output.status.success())
    }

    /// Installs `package` at exactly `version` unless that version is already there, so a warm
    /// cache costs no network and a pin change takes effect on the next run.
    pub fn ensure_package(&self, package: &str, version: &str) -> Result<()> {
        if self.installed_version(package).as_deref() == Some(version) {
            return Ok(());
        }
        eprintln!("xtask: installing {package}=={version} into {}", self.dir.display());
        process::run(Command::new(self.bin("python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("{package}=={version}"),
        ]))
    }

    fn installed_version(&self, package: &str) -> Option<String> {
        let output = process::output(Command::new(self.bin("python")).args([
            "-c",
            "import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))",
            package,
        ]))
        .ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}
