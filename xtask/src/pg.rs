//! `cargo xtask pg [--wait]`: starts the same private cluster `run` and `test` use, proves it
//! answers, and stops it; `--wait` keeps it up until Ctrl-C, to try the cleanup by hand.

use std::thread::sleep;
use std::time::Duration;

use crate::error::Result;
use crate::postgres::Database;
use crate::{interrupt, psql};

pub fn smoke(wait: bool) -> Result<()> {
    let database = Database::provide(None, "jwt_auth")?;
    println!("DATABASE_URL={}", database.url());
    psql::execute(database.url(), "select 1")?;
    println!("select 1: ok");
    if wait {
        eprintln!("xtask: up until Ctrl-C");
        while !interrupt::requested() {
            sleep(Duration::from_millis(100));
        }
        return interrupt::check();
    }
    Ok(())
}
