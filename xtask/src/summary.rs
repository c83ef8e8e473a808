//! The steps of `cargo xtask test`: each announced, timed, and listed again at the end, so a
//! long log still ends with what ran, what was skipped and why, and what failed.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub enum Outcome {
    Passed(Option<String>),
    Skipped(String),
}

enum Row {
    Passed(Duration, Option<String>),
    Skipped(String),
    Failed(Duration),
    Interrupted,
}

#[derive(Default)]
pub struct Summary {
    rows: Vec<(String, Row)>,
}

impl Summary {
    /// Runs one step; its error ends the run (the caller's `?`), as the first failure should.
    pub fn run(&mut self, name: &str, step: impl FnOnce() -> Result<Outcome>) -> Result<()> {
        eprintln!("\n==> {name}");
        let started = Instant::now();
        let result = step();
        let elapsed = started.elapsed();
        let row = match &result {
            Ok(Outcome::Passed(note)) => Row::Passed(elapsed, note.clone()),
            Ok(Outcome::Skipped(reason)) => {
                eprintln!("skipped: {reason}");
                Row::Skipped(reason.clone())
            }
            Err(Error::Interrupted) => Row::Interrupted,
            Err(Error::Failed(_)) => Row::Failed(elapsed),
        };
        self.rows.push((name.to_owned(), row));
        result.map(|_| ())
    }

    pub fn skip(&mut self, name: &str, reason: &str) {
        self.rows.push((name.to_owned(), Row::Skipped(reason.to_owned())));
    }

    pub fn print(&self, result: &Result<()>) {
        let width = self.rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        eprintln!("\nxtask test summary:");
        for (name, row) in &self.rows {
            let line = match row {
                Row::Passed(elapsed, None) => format!("ok       {name:width$}  {}", secs(*elapsed)),
                Row::Passed(elapsed, Some(note)) => {
                    format!("ok       {name:width$}  {}  {note}", secs(*elapsed))
                }
                Row::Skipped(reason) => format!("skipped  {name:width$}  {reason}"),
                Row::Failed(elapsed) => format!("FAILED   {name:width$}  {}", secs(*elapsed)),
                Row::Interrupted => format!("stopped  {name:width$}  interrupted"),
            };
            eprintln!("  {line}");
        }
        let ok = self.count(|row| matches!(row, Row::Passed(..)));
        let skipped = self.count(|row| matches!(row, Row::Skipped(_)));
        match result {
            Ok(()) => eprintln!("xtask test: all steps ok ({ok} ran, {skipped} skipped)"),
            Err(Error::Interrupted) => eprintln!("xtask test: interrupted; later steps not run"),
            Err(Error::Failed(_)) => eprintln!("xtask test: FAILED; later steps not run"),
        }
    }

    fn count(&self, which: impl Fn(&Row) -> bool) -> usize {
        self.rows.iter().filter(|(_, row)| which(row)).count()
    }
}

fn secs(elapsed: Duration) -> String {
    format!("{:>6.1}s", elapsed.as_secs_f64())
}
