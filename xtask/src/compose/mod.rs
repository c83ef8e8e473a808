//! `cargo xtask compose up|down|test`: docker-compose.yml's stack (db, api, edge) for real.
//!
//! With a Docker engine it is `docker compose`. Without one (this project's machines) it is
//! podman, set up here when missing (`podman.rs`). Either way an override file gives the stack
//! its ports and env file, and each service is waited on until healthy: podman runs no health
//! checks without systemd, so xtask runs db's and the api's itself, then asks the api and the edge
//! (which has none) over HTTP. `test` (`check.rs`) is a step of `cargo xtask test`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};
use crate::workspace::root;
use crate::{env_file, http1, net, process, tools};

pub mod check;
mod podman;

/// The project name of `compose up`; the test's stack has one of its own.
pub const PROJECT: &str = "jwt-auth";

/// The name under which the containers reach this machine: podman puts it in their /etc/hosts,
/// and the override maps it to the host's gateway for Docker.
pub const HOST_NAME: &str = "host.containers.internal";

/// A compose project: its name, where it listens on this machine, and the env file the services
/// read.
pub struct Stack {
    pub project: String,
    pub api: SocketAddr,
    pub metrics: SocketAddr,
    pub edge: SocketAddr,
    pub env_file: PathBuf,
    /// db on 127.0.0.1:5432 as the compose file publishes it (never under podman, where the
    /// machine's own PostgreSQL holds the port).
    pub publish_db: bool,
}

impl Stack {
    /// The compose file's own ports and config/.env (made from the example when missing).
    pub fn default_ports() -> Result<Self> {
        let env_file = root().join("config/.env");
        if let Some(generated) = env_file::create_from_example(&env_file, &root().join("config/.env.example"))? {
            eprintln!("xtask: wrote config/.env with fresh {}", generated.join(", "));
        }
        Ok(Stack {
            project: PROJECT.to_owned(),
            api: "127.0.0.1:8000".parse().map_err(|_| Error::failed("address"))?,
            metrics: "127.0.0.1:9100".parse().map_err(|_| Error::failed("address"))?,
            edge: "127.0.0.1:8787".parse().map_err(|_| Error::failed("address"))?,
            env_file,
            publish_db: true,
        })
    }
}

/// What runs the stack: a Docker engine where one answers, else podman.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

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

    /// The name of `service`'s container in `project` (both compose tools label it alike).
    pub fn container(self, project: &str, service: &str) -> Result<String> {
        let output = process::output(self.command().args([
            "ps",
            "--all",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
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

    /// `logs` of `service`'s container (its stdout and stderr) into `path`; with `follow`, a child
    /// that goes on until stopped.
    pub fn logs(self, project: &str, service: &str, path: &Path, follow: bool) -> Result<std::process::Child> {
        let file = std::fs::File::create(path).context(|| format!("cannot create {}", path.display()))?;
        let mut command = self.command();
        command.arg("logs");
        if follow {
            command.arg("--follow");
        }
        process::spawn(command.arg(self.container(project, service)?).stdout(file.try_clone()?).stderr(file))
    }
}

/// Builds the images, starts the stack and prints its addresses.
pub fn up(stack: &Stack) -> Result<()> {
    let engine = Engine::detect();
    build(engine)?;
    start(engine, stack)?;
    print_addresses(stack)
}

/// The project's images from its Dockerfiles (podman: after setting it up and making the base
/// images).
pub fn build(engine: Engine) -> Result<()> {
    let started = Instant::now();
    match engine {
        Engine::Docker => process::run(
            Command::new("docker").args(["compose", "--file"]).arg(root().join("docker-compose.yml")).arg("build"),
        )?,
        Engine::Podman => {
            podman::setup()?;
            podman::base_images()?;
            podman::build_images()?;
        }
    }
    eprintln!("xtask: images ready after {}s", started.elapsed().as_secs());
    Ok(())
}

/// Starts the built images as `stack` and waits until each service is healthy.
pub fn start(engine: Engine, stack: &Stack) -> Result<()> {
    let started = Instant::now();
    let override_file = write_override(stack, engine)?;
    match engine {
        Engine::Docker => {
            process::run(compose_docker(stack, &override_file).args(["up", "--no-build", "--detach", "--wait"]))?;
        }
        Engine::Podman => {
            // One at a time: podman-compose ignores `condition: service_healthy` before podman 4.6.
            let compose = podman::PodmanCompose::ensure(&stack.project, override_file)?;
            process::run(compose.command().args(["up", "--detach", "--no-build", "db"]))?;
            podman::wait_healthy(&stack.project, "db")?;
            process::run(compose.command().args(["up", "--detach", "--no-build", "--no-deps", "api"]))?;
            podman::wait_healthy(&stack.project, "api")?;
            process::run(compose.command().args(["up", "--detach", "--no-build", "--no-deps", "edge"]))?;
        }
    }
    // From this machine too: the published ports, and the edge, which has no health check.
    wait_http(engine, stack, "api", stack.api, "/health/ready")?;
    wait_http(engine, stack, "edge", stack.edge, "/")?;
    eprintln!("xtask: the stack is up after {}s", started.elapsed().as_secs());
    Ok(())
}

/// Stops and removes the stack's containers, its volume and its network, and checks that none
/// is left behind. It runs to the end even after Ctrl-C: it is what cleans up.
pub fn down(stack: &Stack) -> Result<()> {
    let engine = Engine::detect();
    if engine == Engine::Podman && tools::which("podman").is_none() {
        eprintln!("xtask: no podman here: nothing to take down");
        return Ok(());
    }
    let override_file = write_override(stack, engine)?;
    let mut command = match engine {
        Engine::Docker => {
            let mut command = compose_docker(stack, &override_file);
            command.args(["down", "--volumes", "--remove-orphans"]);
            command
        }
        Engine::Podman => {
            let mut command = podman::PodmanCompose::ensure(&stack.project, override_file)?.command();
            command.args(["down", "--volumes"]);
            command
        }
    };
    process::run_to_end(&mut command)?;
    let left = leftovers(engine, &stack.project)?;
    if left.is_empty() {
        eprintln!("xtask: down: no container, volume or network of {} is left", stack.project);
        Ok(())
    } else {
        Err(Error::failed(format!("down left behind: {}", left.join(", "))))
    }
}

/// `project`'s containers, volumes and networks that exist now.
fn leftovers(engine: Engine, project: &str) -> Result<Vec<String>> {
    let label = format!("label=com.docker.compose.project={project}");
    let mut left = Vec::new();
    for (kind, args) in [
        ("container", vec!["ps", "--all", "--filter", &label, "--format", "{{.Names}}"]),
        ("volume", vec!["volume", "ls", "--filter", &label, "--format", "{{.Name}}"]),
        ("network", vec!["network", "ls", "--filter", &label, "--format", "{{.Name}}"]),
    ] {
        let output = process::output(engine.command().args(&args))?;
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
    let answers = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    tools::which("docker").is_some()
        && answers(&["info", "--format", "{{.ServerVersion}}"])
        && answers(&["compose", "version"])
}

fn compose_docker(stack: &Stack, override_file: &Path) -> Command {
    let mut command = Command::new("docker");
    command
        .args(["compose", "--project-name", &stack.project, "--file"])
        .arg(root().join("docker-compose.yml"))
        .arg("--file")
        .arg(override_file)
        .current_dir(root());
    command
}

/// The override of docker-compose.yml (its `!reset` and `!override` need Docker Compose 2.24.4 or
/// later, or podman-compose 1.1): the stack's ports and env file; db unpublished unless asked for;
/// for podman, PostgreSQL 15 for db (postgres:16 cannot be had here) and the images it built;
/// for Docker, [`HOST_NAME`], which podman provides itself.
fn write_override(stack: &Stack, engine: Engine) -> Result<PathBuf> {
    let path = podman::cache_dir()?.join(format!(
        "{}.{}.yml",
        stack.project,
        match engine {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    ));
    let env = stack.env_file.display();
    let mut db = String::new();
    if engine == Engine::Podman {
        db.push_str(&format!("    image: {}\n", podman::POSTGRES));
    }
    if engine == Engine::Podman || !stack.publish_db {
        db.push_str("    ports: !reset []\n");
    }
    let (api_extra, edge_extra) = match engine {
        Engine::Podman => {
            (format!("    image: {}\n", podman::API_IMAGE), format!("    image: {}\n", podman::EDGE_IMAGE))
        }
        Engine::Docker => (format!("    extra_hosts: [\"{HOST_NAME}:host-gateway\"]\n"), String::new()),
    };
    let text = format!(
        "# Written by `cargo xtask compose`.\n\
         services:\n\
         \x20 db:\n\
         {db}\
         \x20 api:\n\
         {api_extra}\
         \x20   env_file: !override [\"{env}\"]\n\
         \x20   ports: !override [\"{}:8000\", \"{}:9100\"]\n\
         \x20 edge:\n\
         {edge_extra}\
         \x20   env_file: !override [\"{env}\"]\n\
         \x20   ports: !override [\"{}:8787\"]\n",
        stack.api, stack.metrics, stack.edge
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Waits until `GET path` on `addr` answers 200, for at most two minutes.
fn wait_http(engine: Engine, stack: &Stack, service: &str, addr: SocketAddr, path: &str) -> Result<()> {
    const LIMIT: Duration = Duration::from_secs(120);
    let deadline = Instant::now() + LIMIT;
    loop {
        if net::get_status(addr, path) == Some(200) {
            eprintln!("xtask: {service} is healthy (GET {path} on {addr}: 200)");
            return Ok(());
        }
        if Instant::now() > deadline {
            let name = engine.container(&stack.project, service).unwrap_or_else(|_| service.to_owned());
            let cli = engine.command().get_program().to_string_lossy().into_owned();
            return Err(Error::failed(format!(
                "{service} not healthy after {}s (GET {path} on {addr}): {cli} logs {name}",
                LIMIT.as_secs()
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
