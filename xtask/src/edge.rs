//! Building the edge for both hosts, and the commands that serve it: `wrangler dev` (workerd) for
//! the Cloudflare build, `wasmtime serve` and `spin up` for the WASI component (the Spin build).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::edge_tools::EdgeTools;
use crate::error::{Error, Result};
use crate::workspace::{cargo, root, target_dir};
use crate::{env_file, process, tools};

/// The size-optimised profile both builds use (Cargo.toml).
const PROFILE: &str = "release-edge";

/// The sources a build depends on: when none is newer than its output, the build is skipped.
const SOURCES: [&str; 6] =
    ["edge/src", "edge/Cargo.toml", "shared/src", "shared/Cargo.toml", "Cargo.lock", "Cargo.toml"];

/// The Cloudflare bundle (`edge/build/`), by worker-build; wrangler.toml's build command.
pub fn build_worker(tools: &EdgeTools) -> Result<()> {
    let output = root().join("edge/build/index_bg.wasm");
    if is_fresh(&output) {
        return Ok(());
    }
    eprintln!("xtask: building the edge for Cloudflare (worker-build, profile {PROFILE}; a minute or two)");
    let worker_build = tools.bin_of("worker-build");
    let mut command = Command::new(worker_build);
    command.args(["--profile", PROFILE]).current_dir(root().join("edge"));
    tools.apply(&mut command);
    process::run(&mut command)?;
    strip_names(tools, &output)
}

/// worker-build always keeps the wasm's names section (`wasm-opt --debuginfo`); it only names
/// functions in stack traces, and costs 40 KB of the 250 KB budget after gzip.
fn strip_names(tools: &EdgeTools, wasm: &Path) -> Result<()> {
    let stripped = wasm.with_extension("stripped.wasm");
    let mut command = Command::new(tools.bin("wasm-opt"));
    command.arg(wasm).arg("-o").arg(&stripped).arg("--strip-debug");
    // The features worker-build enables, and no others: binaryen must not re-encode anything
    // workerd does not read yet.
    for feature in [
        "mutable-globals",
        "sign-ext",
        "nontrapping-float-to-int",
        "bulk-memory",
        "multivalue",
        "reference-types",
        "exception-handling",
    ] {
        command.arg(format!("--enable-{feature}"));
    }
    tools.apply(&mut command);
    process::run(&mut command)?;
    std::fs::rename(&stripped, wasm)?;
    Ok(())
}

/// The WASI component (`wasm32-wasip2`), for `wasmtime serve` and `spin up`.
pub fn build_component() -> Result<PathBuf> {
    let output = target_dir().join("wasm32-wasip2").join(PROFILE).join("edge.wasm");
    if !is_fresh(&output) {
        tools::ensure_rust_target("wasm32-wasip2")?;
        eprintln!("xtask: building the edge as a WASI component (profile {PROFILE}; a minute or two)");
        process::run(&mut cargo(&["build", "-p", "edge", "--target", "wasm32-wasip2", "--profile", PROFILE]))?;
    }
    Ok(output)
}

/// `spin up` with the project's spin.toml on `port`, with `vars` as the component's environment.
/// `ORIGIN_URL` is given as the docs tell users: to the component, and as
/// `SPIN_VARIABLE_ORIGIN_URL`, which opens Spin's outbound sandbox to it (spin.toml). Its state
/// (logs) goes to `state_dir`, not beside spin.toml.
pub fn spin_up(spin: &Path, port: u16, vars: &[(&str, String)], state_dir: &Path) -> Command {
    let mut command = Command::new(spin);
    command
        .current_dir(root())
        .args(["up", "--from", "spin.toml", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(state_dir);
    for (name, value) in vars {
        if *name == "ORIGIN_URL" {
            command.env("SPIN_VARIABLE_ORIGIN_URL", value);
        }
        // Spin takes only NAME=VALUE: test secrets, made for this run, on its command line.
        command.arg("--env").arg(format!("{name}={value}"));
    }
    command
}

/// `wrangler dev` on `port`, with `vars` as the worker's bindings.
pub fn wrangler_dev(tools: &EdgeTools, port: u16, vars: &[(&str, String)]) -> Result<Command> {
    let mut command = Command::new(tools.bin("wrangler"));
    command.args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string(), "--show-interactive-dev-session=false"]);
    // From a file only its owner reads, not `--var NAME:VALUE`: `ps` shows a command line to
    // everyone. With `--env-file`, wrangler reads no .dev.vars.
    let path = target_dir().join(format!("wrangler-dev-{port}.env"));
    env_file::replace_private(&path, &dotenv(vars)?)?;
    command.arg("--env-file").arg(&path);
    command.current_dir(root());
    tools.apply(&mut command);
    Ok(command)
}

/// `NAME='value'` lines as wrangler reads them (dotenv, then dotenv-expand): single quotes so a
/// `#` does not end the value, and `$` escaped as `\$`, since the expansion runs inside quotes too.
fn dotenv(vars: &[(&str, String)]) -> Result<String> {
    let mut text = String::new();
    for (name, value) in vars {
        if value.contains(['\'', '\n', '\\']) {
            return Err(Error::failed(format!(
                "{name}'s value holds a quote, a backslash or a new line, which wrangler's .env cannot carry"
            )));
        }
        text.push_str(&format!("{name}='{}'\n", value.replace('$', "\\$")));
    }
    Ok(text)
}

/// `wasmtime serve` of the component on `port`, configured through its environment.
pub fn wasmtime_serve(wasmtime: &Path, component: &Path, port: u16, vars: &[(&str, String)]) -> Command {
    let mut command = Command::new(wasmtime);
    // Rust's std makes every component import wasi:cli, hence -Scli.
    command.args(["serve", "-Scli", "--addr", &format!("127.0.0.1:{port}")]);
    // `--env NAME` hands the guest the host process's value: secrets stay off the command line.
    for (name, value) in vars {
        command.env(name, value).arg("--env").arg(name);
    }
    command.arg(component);
    command
}

fn is_fresh(output: &Path) -> bool {
    let Ok(built) = output.metadata().and_then(|m| m.modified()) else {
        return false;
    };
    SOURCES.iter().all(|source| newest(&root().join(source)).is_none_or(|changed| changed <= built))
}

fn newest(path: &Path) -> Option<SystemTime> {
    let meta = path.metadata().ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path).ok()?.filter_map(|entry| entry.ok()).filter_map(|entry| newest(&entry.path())).max()
}

/// The Cloudflare wasm's budget after gzip: the Workers free plan's limit is 3 MB, ours is small
/// so cold starts stay fast.
const WORKER_GZIP_BUDGET: usize = 250_000;
/// The WASI component's budget after gzip.
const COMPONENT_GZIP_BUDGET: usize = 300_000;

/// Both builds within their size budgets (gzip -9); a line with the sizes for the summary.
pub fn check_sizes(component: &Path) -> Result<String> {
    let mut lines = Vec::new();
    let mut over = Vec::new();
    for (what, path, budget) in [
        ("Cloudflare wasm", root().join("edge/build/index_bg.wasm"), WORKER_GZIP_BUDGET),
        ("WASI component", component.to_path_buf(), COMPONENT_GZIP_BUDGET),
    ] {
        let raw = std::fs::read(&path)?;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gzip, &raw)?;
        let gzipped = gzip.finish()?.len();
        let line =
            format!("{what} {} KB gzip ({} KB raw, budget {} KB)", gzipped / 1000, raw.len() / 1000, budget / 1000);
        if gzipped > budget {
            over.push(format!("{line}: over budget ({})", path.display()));
        }
        lines.push(line);
    }
    if over.is_empty() { Ok(lines.join("; ")) } else { Err(Error::failed(over.join("\n"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_quotes_each_value_and_refuses_what_it_cannot_carry() {
        let vars = [("ORIGIN_URL", "http://127.0.0.1:1/#x".to_owned()), ("JWT_SECRET", "a$b c".to_owned())];
        assert_eq!(dotenv(&vars).ok().as_deref(), Some("ORIGIN_URL='http://127.0.0.1:1/#x'\nJWT_SECRET='a\\$b c'\n"));
        assert!(dotenv(&[("X", "it's".to_owned())]).is_err());
        assert!(dotenv(&[("X", "back\\slash".to_owned())]).is_err());
        assert!(dotenv(&[("X", "two\nlines".to_owned())]).is_err());
    }
}
