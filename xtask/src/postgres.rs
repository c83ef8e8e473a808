//! The database for `run` and `test`: `DATABASE_URL` when the user gives one, otherwise a private
//! throwaway cluster, so nothing ever touches a server the user did not name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, Uid, User};

use crate::error::{Context, Error, Result};
use crate::{interrupt, net, process, psql, random, tools};

pub enum Database {
    External(String),
    Private { cluster: Cluster, url: String },
}

impl Database {
    /// `url` if given, else a new private cluster with `database` created in it.
    pub fn provide(url: Option<String>, database: &str) -> Result<Self> {
        if let Some(url) = url {
            return Ok(Database::External(url));
        }
        let cluster = Cluster::start()?;
        interrupt::check()?;
        let url = cluster.url(database);
        psql::create_database(&cluster.url("postgres"), database)?;
        Ok(Database::Private { cluster, url })
    }

    pub fn url(&self) -> &str {
        match self {
            Database::External(url) | Database::Private { url, .. } => url,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Database::External(_) => "DATABASE_URL as given".to_owned(),
            Database::Private { cluster, .. } => {
                format!("private cluster on 127.0.0.1:{}", cluster.port)
            }
        }
    }
}

/// A PostgreSQL cluster in a temporary directory, stopped and deleted when dropped.
pub struct Cluster {
    dir: TempDir,
    binaries: Binaries,
    user: Option<User>,
    port: u16,
    running: bool,
}

struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

impl Cluster {
    pub fn start() -> Result<Self> {
        let binaries = Binaries::find().ok_or_else(|| {
            Error::failed(
                "PostgreSQL not found (no initdb and pg_ctl on PATH, in /usr/lib/postgresql/*/bin \
                 or in /usr/local/pgsql/bin). Either install it (e.g. `apt-get install postgresql`), \
                 or run `docker compose up db` and set \
                 DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/jwt_auth",
            )
        })?;
        eprintln!(
            "xtask: starting a private PostgreSQL ({})",
            binaries.initdb.parent().unwrap_or(Path::new("")).display()
        );
        let user = server_user()?;
        let dir = TempDir::new(user.as_ref())?;
        let mut cluster = Cluster { dir, binaries, user, port: 0, running: false };
        cluster.init()?;
        interrupt::check()?;
        // Another process may take the free port before the server binds it: try a few.
        let mut last_error = Error::failed("PostgreSQL did not start");
        for _ in 0..3 {
            cluster.port = net::free_port()?;
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    cluster.running = true;
                    return Ok(cluster);
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `pg_ctl stop -m fast`: sessions end, open transactions roll back. Returns once the server
    /// is down; [`Cluster::start_again`] brings it back.
    pub fn stop_fast(&mut self) -> Result<()> {
        if !self.pg_ctl_stop("fast") {
            return Err(Error::failed("pg_ctl stop -m fast failed"));
        }
        self.running = false;
        Ok(())
    }

    /// A crash: SIGKILL to the postmaster and every backend at once (pg_ctl starts the server in
    /// a session of its own, so they are one process group), without a shutdown checkpoint.
    /// Returns once none of them runs any more, with the moment the signal was sent: none of
    /// them ran an instruction of its own after it.
    pub fn kill(&mut self) -> Result<Instant> {
        let lock = self.data().join("postmaster.pid");
        let text = std::fs::read_to_string(&lock).context(|| format!("reading {}", lock.display()))?;
        let pid: i32 = text
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| Error::failed(format!("no process id in {}", lock.display())))?;
        if proc_stat(pid).is_none_or(|stat| stat.group != pid) {
            return Err(Error::failed(format!("the postmaster ({pid}) does not lead a process group of its own")));
        }
        killpg(Pid::from_raw(pid), Signal::SIGKILL).context(|| format!("cannot kill PostgreSQL ({pid})"))?;
        let killed = Instant::now();
        self.running = false;
        let deadline = Instant::now() + KILL_LIMIT;
        while group_runs(pid) {
            if Instant::now() >= deadline {
                return Err(Error::failed(format!("PostgreSQL ({pid}) still runs after SIGKILL")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // A killed postmaster's parent is init, and an init that does not reap (some containers'
        // PID 1) leaves it a zombie: to the next postmaster its process id looks alive, and the
        // lock file would stop it. Nothing of the server runs any more (above), so it can go.
        match std::fs::remove_file(&lock) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::failed(format!("cannot remove {}: {error}", lock.display())))
            }
            _ => Ok(killed),
        }
    }

    /// Starts the server again on the same port and data (after [`Cluster::kill`], with crash
    /// recovery); returns once it accepts connections.
    pub fn start_again(&mut self) -> Result<()> {
        // Before the start, not after it: a start that times out may still leave a server
        // running, which the drop must then stop.
        self.running = true;
        self.pg_ctl_start()
    }

    fn data(&self) -> PathBuf {
        self.dir.path.join("data")
    }

    fn init(&self) -> Result<()> {
        let data = self.data();
        let output = process::output(self.as_server_user(&self.binaries.initdb).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]))?;
        check(&output, "initdb")
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let log = self.dir.path.join("postgres.log");
        // pg_ctl hands -o to a shell, so the socket directory is quoted.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k '{}' -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path.display()
        );
        let output = process::output(
            self.as_server_user(&self.binaries.pg_ctl)
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-o", &options, "start"]),
        )?;
        check(&output, "pg_ctl start").map_err(|error| {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            Error::failed(format!("{error}\n{}", server_log.trim()))
        })
    }

    fn pg_ctl_stop(&self, mode: &str) -> bool {
        process::output(
            self.as_server_user(&self.binaries.pg_ctl).arg("-D").arg(self.data()).args(["-m", mode, "-w", "stop"]),
        )
        .is_ok_and(|output| output.status.success())
    }

    /// PostgreSQL refuses to run as root, so root runs it as the server's own account.
    fn as_server_user(&self, program: &Path) -> Command {
        let mut command = match &self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", &user.name, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        };
        // The server's account may not be allowed into the caller's working directory.
        command.current_dir(&self.dir.path);
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        eprintln!("xtask: stopping the private PostgreSQL");
        if !self.pg_ctl_stop("fast") && !self.pg_ctl_stop("immediate") {
            eprintln!("xtask: could not stop PostgreSQL in {}", self.dir.path.display());
        }
    }
}

/// How long the killed server's processes may take to be gone.
const KILL_LIMIT: Duration = Duration::from_secs(10);

/// Whether the server binaries a private cluster needs (initdb, pg_ctl) are installed.
pub fn server_binaries_found() -> bool {
    Binaries::find().is_some()
}

/// What `/proc/PID/stat` says of a process.
struct ProcStat {
    state: char,
    group: i32,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`: comm may hold spaces and parentheses, so from the last `)`.
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let group = fields.nth(1)?.parse().ok()?;
    Some(ProcStat { state, group })
}

/// Whether any process of `group` still runs: a zombie does not.
fn group_runs(group: i32) -> bool {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|entry| {
        entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
            .and_then(proc_stat)
            .is_some_and(|stat| stat.group == group && !matches!(stat.state, 'Z' | 'X'))
    })
}

impl Binaries {
    fn find() -> Option<Self> {
        if let (Some(initdb), Some(pg_ctl)) = (tools::which("initdb"), tools::which("pg_ctl")) {
            return Some(Binaries { initdb, pg_ctl });
        }
        tools::postgres_bin_dirs().into_iter().find_map(|dir| {
            let binaries = Binaries { initdb: dir.join("initdb"), pg_ctl: dir.join("pg_ctl") };
            (tools::is_executable(&binaries.initdb) && tools::is_executable(&binaries.pg_ctl)).then_some(binaries)
        })
    }
}

/// The account the server runs as: none needed unless we are root; then `postgres` if the
/// system has it, else a system account of our own.
fn server_user() -> Result<Option<User>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "pgrunner"] {
        if let Some(user) = lookup_user(name)? {
            return Ok(Some(user));
        }
    }
    eprintln!("xtask: creating the system user pgrunner to run PostgreSQL (it refuses root)");
    let output = process::output(Command::new("useradd").args(["--system", "--no-create-home", "pgrunner"]))?;
    check(&output, "useradd pgrunner")?;
    lookup_user("pgrunner")?
        .map(Some)
        .ok_or_else(|| Error::failed("useradd pgrunner succeeded but the user is not there"))
}

fn lookup_user(name: &str) -> Result<Option<User>> {
    User::from_name(name).context(|| format!("cannot look up the user {name}"))
}

fn check(output: &Output, what: &str) -> Result<()> {
    if output.status.success() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

/// A fresh directory that the server's account owns, deleted with everything in it on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(owner: Option<&User>) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let path = std::env::temp_dir().join(format!("jwt-auth-pg-{}", random::hex(8)?));
        std::fs::create_dir(&path).context(|| format!("cannot create {}", path.display()))?;
        let dir = TempDir { path };
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755))?;
        if let Some(user) = owner {
            std::os::unix::fs::chown(&dir.path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .context(|| format!("cannot give {} to {}", dir.path.display(), user.name))?;
        }
        Ok(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            eprintln!("xtask: cannot delete {}: {error}", self.path.display());
        }
    }
}
