//! The project's task runner (`cargo xtask`): one place for how to run and test the project,
//! in Rust so it needs nothing that a Rust toolchain does not already bring.

#![allow(
    clippy::std_instead_of_core,
    reason = "the workspace sets this for shared's no_std core; xtask is a std program"
)]
#![allow(clippy::disallowed_methods, reason = "a tool: it waits on processes and ports by the real clock")]

mod compose;
mod docker_files;
mod e2e;
mod edge;
mod edge_tools;
mod env_file;
mod error;
mod faults;
mod fuzz;
mod http1;
mod interrupt;
mod maildev;
mod modules;
mod net;
mod newman;
mod pg;
mod postgres;
mod process;
mod proxy;
mod psql;
mod python;
mod random;
mod run;
mod schemathesis;
mod summary;
mod supervisor;
mod test;
mod tools;
mod workerd;
mod workspace;

use std::process::ExitCode;

use error::{Error, Result};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  run            the whole system in dev mode: PostgreSQL (private unless DATABASE_URL is set),
                 the origin, the edge under wrangler dev and wasmtime serve, and MailDev for
                 the origin's mail (unless SMTP_URL is set); writes config/.env on first use
  test [--quick] fmt, clippy, no_std and wasm builds, all tests (against DATABASE_URL or a
                 private PostgreSQL; MailDev from npm for the mail tests), the PyJWT vectors, a
                 minute of fuzzing per target, schemathesis, and the edge end to end
                 (conformance, Postman, outages and the lockout attack on wrangler dev, workerd
                 serve, wasmtime serve and spin up), then the compose stack (compose test);
                 --quick skips clippy, the target builds, fuzzing, schemathesis, the edge and compose
  fuzz [TARGET] [SECONDS]
                 fuzz one target of fuzz/ (token, signed, phc; default all) for SECONDS (60)
  faults         the fault test alone: the release origin under load on a private PostgreSQL
                 that is restarted fast, then killed and started again (a step of `test`)
  modules        checks that no crate has an import circle among its modules
  compose up|down|test
                 docker-compose.yml's stack (db, api, edge) built and started, each waited on until
                 healthy, then a sign-up, login and GET /users through the edge; down removes its
                 containers, volume and network. docker compose where a Docker engine runs, else
                 podman, set up here when missing (docs/operations.md#docker-compose). test: the
                 step of `test` alone, on free ports: up, conformance and Postman against the api
                 and edge containers, their logs scanned, down
  edge-build     the Cloudflare bundle (wrangler.toml's build command), with cached tools";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = interrupt::install().and_then(|()| dispatch(&args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Interrupted) => ExitCode::from(130),
        Err(Error::Failed(message)) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[&str]) -> Result<()> {
    match args {
        ["run"] => run::run(),
        ["test"] => test::test(false),
        ["test", "--quick"] => test::test(true),
        // wrangler.toml's build command: the Cloudflare bundle, with the cached tools.
        ["edge-build"] => edge_tools::EdgeTools::ensure().and_then(|tools| edge::build_worker(&tools)),
        // Not in the usage: the edge's end-to-end step alone, for iterating on it.
        ["e2e"] => {
            let url = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
            let database = postgres::Database::provide(url, "jwt_auth")?;
            e2e::run(database.url()).map(|_| eprintln!("xtask: e2e passed"))
        }
        ["fuzz", rest @ ..] => {
            let (targets, seconds): (Vec<&str>, Vec<&str>) = rest.iter().partition(|arg| arg.parse::<u64>().is_err());
            let seconds = match seconds.as_slice() {
                [] => fuzz::TEST_SECONDS,
                [n] => n.parse().map_err(|_| Error::failed(format!("{n} is not a number of seconds")))?,
                _ => return Err(Error::failed("at most one number of seconds")),
            };
            let targets = if targets.is_empty() { fuzz::TARGETS.to_vec() } else { targets };
            fuzz::run(&targets, seconds).map(|_| eprintln!("xtask: fuzzing found no crash"))
        }
        ["faults"] => faults::run().map(|outcome| match outcome {
            summary::Outcome::Passed(_) => eprintln!("xtask: the fault test passed"),
            summary::Outcome::Skipped(reason) => eprintln!("xtask: the fault test skipped: {reason}"),
        }),
        ["modules"] => modules::check().map(|outcome| {
            if let summary::Outcome::Passed(Some(note)) = outcome {
                eprintln!("xtask: {note}");
            }
        }),
        // Not in the usage: the Docker files' check alone.
        ["docker-files"] => docker_files::check().map(|_| eprintln!("xtask: docker files checked")),
        // Not in the usage: the schemathesis step alone.
        ["schemathesis"] => {
            let url = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
            let database = postgres::Database::provide(url, "jwt_auth")?;
            schemathesis::run(database.url()).map(|outcome| match outcome {
                summary::Outcome::Passed(Some(note)) => eprintln!("xtask: schemathesis passed: {note}"),
                _ => eprintln!("xtask: schemathesis passed"),
            })
        }
        // Not in the usage: a check that the private cluster starts, answers and goes away.
        ["pg"] => pg::smoke(false),
        ["pg", "--wait"] => pg::smoke(true),
        ["compose", "up"] => {
            let stack = compose::Stack::default_ports()?;
            compose::up(&stack)?;
            compose::smoke(stack.edge)
        }
        ["compose", "down"] => compose::down(&compose::Stack::default_ports()?),
        ["compose", "test"] => {
            let mail = maildev::Install::ensure()?;
            compose::check::run(&mail).map(|_| eprintln!("xtask: the compose stack passed"))
        }
        [] | ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(Error::failed(format!("unknown arguments {args:?}\n{USAGE}"))),
    }
}
