//! The edge under `workerd serve` with the committed config (`edge/workerd/config.capnp`), as the
//! compose file's `edge` service runs it, but here without an engine: the same bundle script, the
//! same config and the same native workerd binary, so the tests exercise what the image holds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::edge_tools::EdgeTools;
use crate::error::{Error, Result};
use crate::process;
use crate::workspace::{root, target_dir};

/// The name of the socket in the config, whose address the tests move to a free port.
const SOCKET: &str = "http";

/// Makes the bundle beside a copy of the config in `target/workerd-serve/`; returns the config.
pub fn stage(tools: &EdgeTools) -> Result<PathBuf> {
    check_compatibility_date()?;
    let dir = target_dir().join("workerd-serve");
    std::fs::create_dir_all(&dir)?;
    let mut bundle = Command::new(root().join("edge/workerd/bundle.sh"));
    bundle.arg(dir.join("bundle")).current_dir(root());
    tools.apply(&mut bundle);
    process::run(&mut bundle)?;
    let config = dir.join("config.capnp");
    std::fs::copy(root().join("edge/workerd/config.capnp"), &config)?;
    Ok(config)
}

/// `workerd serve` of the staged config on `port`, configured through its environment.
pub fn serve(config: &Path, port: u16, vars: &[(&str, String)]) -> Command {
    // The native binary the image copies, not the npm wrapper (which needs Node).
    let workerd = root().join("node_modules/@cloudflare/workerd-linux-64/bin/workerd");
    let mut command = Command::new(workerd);
    command.arg("serve").arg(config).arg("--socket-addr").arg(format!("{SOCKET}=127.0.0.1:{port}"));
    command.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

/// The config's compatibility date must be wrangler.toml's: the two serve the same bundle.
fn check_compatibility_date() -> Result<()> {
    let date = |file: &str, key: &str| -> Result<String> {
        let text = std::fs::read_to_string(root().join(file))?;
        text.lines()
            .filter_map(|line| line.trim().strip_prefix(key))
            .filter_map(|rest| rest.trim_start().strip_prefix(['=', ':'])?.trim().split('"').nth(1).map(str::to_owned))
            .next()
            .ok_or_else(|| Error::failed(format!("no {key} in {file}")))
    };
    let wrangler = date("wrangler.toml", "compatibility_date")?;
    let workerd = date("edge/workerd/config.capnp", "compatibilityDate")?;
    if wrangler == workerd {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "edge/workerd/config.capnp's compatibilityDate {workerd} differs from wrangler.toml's {wrangler}"
        )))
    }
}
