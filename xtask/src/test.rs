//! `cargo xtask test`: every check the project has, in the order that fails fastest.

use std::process::Command;

use crate::error::{Error, Result};
use crate::maildev;
use crate::postgres::Database;
use crate::python::Venv;
use crate::summary::{Outcome, Summary};
use crate::workspace::{cargo, root};
use crate::{compose, docker_files, e2e, faults, fuzz, modules, process, schemathesis, tools};

const PYJWT_VERSION: &str = "2.15.1";
/// PyJWT's EdDSA needs it.
const CRYPTOGRAPHY_VERSION: &str = "46.0.3";
const PYJWT_SCRIPT: &str = "shared/tests/vectors/check_with_pyjwt.py";

pub fn test(quick: bool) -> Result<()> {
    let mut summary = Summary::default();
    let result = steps(&mut summary, quick);
    summary.print(&result);
    result
}

fn steps(summary: &mut Summary, quick: bool) -> Result<()> {
    summary.run("fmt", || cargo_step(&["fmt", "--all", "--", "--check"]))?;
    summary.run("no import circles", modules::check)?;

    let builds: [(&str, &str, &[&str]); 2] = [
        ("build shared for thumbv7em-none-eabihf (no_std)", "thumbv7em-none-eabihf", &["--no-default-features"]),
        ("build shared for wasm32-unknown-unknown (jwt)", "wasm32-unknown-unknown", &["--features", "jwt"]),
    ];
    if quick {
        summary.skip("clippy", "--quick");
        for (name, _, _) in builds {
            summary.skip(name, "--quick");
        }
    } else {
        summary.run("clippy", || {
            cargo_step(&["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"])
        })?;
        for (name, target, features) in builds {
            summary.run(name, || {
                tools::ensure_rust_target(target)?;
                let mut args = vec!["build", "-p", "shared", "--target", target];
                args.extend_from_slice(features);
                cargo_step(&args)
            })?;
        }
    }

    // Kept up until the last step that needs it; dropping it stops a private cluster.
    let mut database = None;
    summary.run("database", || {
        let url = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
        let provided = Database::provide(url, "jwt_auth")?;
        let note = provided.describe();
        database = Some(provided);
        Ok(Outcome::Passed(Some(note)))
    })?;
    let Some(database) = database else {
        return Err(Error::failed("no database"));
    };
    // The origin's mail tests start MailDevs of their own from it.
    let mut mail = None;
    summary.run("MailDev (npm)", || {
        let install = maildev::Install::ensure()?;
        let note = format!("{} with {}", install.cli.display(), install.node.display());
        mail = Some(install);
        Ok(Outcome::Passed(Some(note)))
    })?;
    let Some(mail) = mail else {
        return Err(Error::failed("no MailDev"));
    };

    if tools::which("cargo-nextest").is_some() {
        summary.run("tests (nextest)", || {
            with_services(cargo(&["nextest", "run", "--workspace", "--all-features"]), &database, &mail)
        })?;
        // nextest does not run doctests.
        summary.run("doctests", || {
            with_services(cargo(&["test", "--workspace", "--all-features", "--doc"]), &database, &mail)
        })?;
    } else {
        summary.run("tests (cargo test)", || {
            with_services(cargo(&["test", "--workspace", "--all-features"]), &database, &mail)
        })?;
    }

    summary.run("vectors checked with PyJWT", pyjwt_vectors)?;
    summary.run("docker files (no engine)", docker_files::check)?;

    if quick {
        summary.skip("faults", "--quick");
        summary.skip("fuzzing", "--quick");
        summary.skip("schemathesis", "--quick");
        summary.skip("edge end to end", "--quick");
        summary.skip("compose", "--quick");
    } else {
        // On a private cluster of its own, whatever the database above: it kills the server.
        summary.run("faults (PostgreSQL restarted, killed)", faults::run)?;
        summary.run("fuzzing", || fuzz::run(&fuzz::TARGETS, fuzz::TEST_SECONDS))?;
        summary.run("schemathesis", || schemathesis::run(database.url()))?;
        summary.run("edge end to end", || e2e::run(database.url()))?;
        summary.run("compose (the images built, the stack tested)", || compose::check::run(&mail))?;
    }
    Ok(())
}

fn cargo_step(args: &[&str]) -> Result<Outcome> {
    process::run(&mut cargo(args))?;
    Ok(Outcome::Passed(None))
}

/// What the test processes get from xtask: the origin's integration tests create and drop a
/// database per test on `DATABASE_URL`'s server, and start a MailDev per mail test with
/// `$MAILDEV_NODE $MAILDEV_BIN`.
fn with_services(mut command: Command, database: &Database, mail: &maildev::Install) -> Result<Outcome> {
    command.env("DATABASE_URL", database.url());
    mail.apply(&mut command);
    process::run(&mut command)?;
    Ok(Outcome::Passed(None))
}

fn pyjwt_vectors() -> Result<Outcome> {
    let script = root().join(PYJWT_SCRIPT);
    if !script.exists() {
        return Ok(Outcome::Skipped(format!("file not present: {PYJWT_SCRIPT}")));
    }
    let venv = Venv::ensure()?;
    venv.ensure_package("pyjwt", PYJWT_VERSION)?;
    venv.ensure_package("cryptography", CRYPTOGRAPHY_VERSION)?;
    process::run(Command::new(venv.bin("python")).arg(&script).current_dir(root()))?;
    Ok(Outcome::Passed(None))
}
