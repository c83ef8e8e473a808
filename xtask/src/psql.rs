//! Database administration through `psql`, which every PostgreSQL install brings; a Rust client
//! here would put an async runtime into every `cargo xtask`.

use std::path::PathBuf;
use std::process::Command;

use crate::error::{Error, Result};
use crate::{process, tools};

pub fn create_database(server_url: &str, name: &str) -> Result<()> {
    execute(server_url, &format!("CREATE DATABASE {}", quote_ident(name)))
}

/// `FORCE` ends sessions a stopped server may have left behind (PostgreSQL 13 and later).
pub fn drop_database(server_url: &str, name: &str) -> Result<()> {
    execute(server_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)))
}

pub fn execute(url: &str, sql: &str) -> Result<()> {
    run(url, sql, &[]).map(|_| ())
}

/// The rows `sql` returns, a line each, their columns separated by `|`.
pub fn query(url: &str, sql: &str) -> Result<Vec<String>> {
    let stdout = run(url, sql, &["-A", "-t"])?;
    Ok(stdout.lines().map(str::to_owned).collect())
}

fn run(url: &str, sql: &str, options: &[&str]) -> Result<String> {
    let psql = find().ok_or_else(|| {
        Error::failed("psql not found: install the PostgreSQL client (e.g. `apt-get install postgresql-client`)")
    })?;
    let output = process::output(
        Command::new(psql).args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]).args(options).args(["-d", url, "-c", sql]),
    )?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::failed(format!("psql `{sql}` failed: {}", String::from_utf8_lossy(&output.stderr).trim())))
    }
}

fn find() -> Option<PathBuf> {
    tools::which("psql").or_else(|| {
        tools::postgres_bin_dirs().into_iter().map(|dir| dir.join("psql")).find(|path| tools::is_executable(path))
    })
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The same server as `url`, another database: `postgres://u:p@h:5432/a?x=y` with `b` gives
/// `postgres://u:p@h:5432/b?x=y`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_swaps_only_the_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/a?sslmode=disable", "b"),
            "postgres://u:p@h:5432/b?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h/a", "b"), "postgresql://h/b");
        assert_eq!(with_database("postgres://postgres@127.0.0.1:5432", "b"), "postgres://postgres@127.0.0.1:5432/b");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
