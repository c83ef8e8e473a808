//! `origin serve | migrate | create-admin | probe`: a thin CLI over the library.

use std::error::Error;
use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use origin::config::Config;
use origin::startup::{Application, Overrides, shutdown_signal};
use origin::telemetry::{self, Chain};
use origin::{admin, db};

#[derive(Parser)]
#[command(name = "origin", version, about = "The origin service of the JWT auth API (owns PostgreSQL).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve the API on ORIGIN_ADDR until Ctrl-C or SIGTERM.
    Serve,
    /// Apply the SQL migrations that the database has not seen yet.
    Migrate,
    /// Make a user an admin, creating it when missing. The password comes from
    /// ORIGIN_ADMIN_PASSWORD or standard input, never from the command line.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Exit 0 if the origin on ORIGIN_ADDR answers GET /health/ready with 200 (a container's
    /// health check: the images carry no curl).
    Probe,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("origin: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.json_logs);
    let result = match cli.command {
        Command::Serve => serve(&config).await,
        Command::Migrate => migrate(&config).await,
        Command::CreateAdmin { username, email } => create_admin(&config, &username, email.as_deref()).await,
        Command::Probe => origin::probe::ready(config.addr).await.map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("origin: {}", Chain(&*err));
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: &Config) -> Result<(), Box<dyn Error>> {
    let app = Application::build(config, Overrides::none()).await?;
    tracing::info!(addr = %app.local_addr(), "origin listening");
    if let Some(addr) = app.metrics_addr() {
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
    }
    Ok(app.serve(shutdown_signal()).await?)
}

async fn migrate(config: &Config) -> Result<(), Box<dyn Error>> {
    let pool = db::pool(&config.database_url, 1, config.db_timeout)?;
    let applied = db::migrate(&pool).await?;
    println!("migrations applied: {applied}");
    Ok(())
}

async fn create_admin(config: &Config, username: &str, email: Option<&str>) -> Result<(), Box<dyn Error>> {
    let password = match std::env::var("ORIGIN_ADMIN_PASSWORD") {
        Ok(password) if !password.is_empty() => password,
        _ => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).map_err(|e| format!("reading the password: {e}"))?;
            input.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    let user = admin::create_admin(config, username, email, &password).await?;
    println!("{}", serde_json::to_string(&user)?);
    Ok(())
}
