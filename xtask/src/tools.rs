//! Finding and installing the tools the steps need, each only when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::process;

/// The first executable `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

/// `$XDG_CACHE_HOME/<name>`, else `~/.cache/<name>`: where xtask keeps what outlives a clone.
pub fn user_cache(name: &str) -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or_else(|| Error::failed("neither XDG_CACHE_HOME nor HOME is set"))?;
    Ok(cache.join(name))
}

/// `dirs` put before the PATH `command` inherits, so their tools win.
pub fn path_first(command: &mut Command, dirs: &[&Path]) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let all = dirs.iter().map(|dir| dir.to_path_buf()).chain(std::env::split_paths(&path));
    if let Ok(joined) = std::env::join_paths(all) {
        command.env("PATH", joined);
    }
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Where distributions put the server binaries off PATH: Debian's versioned directories, newest
/// first, then the source build's default prefix.
pub fn postgres_bin_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, dir)| dir).chain([PathBuf::from("/usr/local/pgsql/bin")]).collect()
}

/// Adds a rustup target unless it is installed. Without rustup (a distribution's Rust) there is
/// nothing to add, and the build itself says what is missing.
pub fn ensure_rust_target(target: &str) -> Result<()> {
    let Some(rustup) = which("rustup") else {
        return Ok(());
    };
    let listed = process::output(Command::new(&rustup).args(["target", "list", "--installed"]))?;
    if !listed.status.success() {
        return Err(Error::failed("rustup target list --installed failed"));
    }
    if String::from_utf8_lossy(&listed.stdout).lines().any(|line| line.trim() == target) {
        return Ok(());
    }
    eprintln!("xtask: installing the Rust target {target}");
    process::run(Command::new(&rustup).args(["target", "add", target]))
}
