//! `techhub`: one binary, one role per subcommand. Configuration comes from `TECHHUB_*`
//! environment variables (or the matching flags); `techhub --help` lists them.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use techhub::{commands, telemetry, Application};
use techhub_core::Config;

/// mimalloc instead of glibc's malloc: glibc spent a fifth of the CPU serving cached articles
/// in malloc and free, and kept the 19 MiB Argon2 blocks freed by one thread out of reach of
/// the others (per-thread arenas), so the server's resident size grew with each thread that
/// ever hashed a password.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "techhub",
    version,
    about = "TechHub: a developer community platform on MySQL, PostgreSQL, MongoDB and Redis"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the HTTP API on TECHHUB_BIND.
    Serve,
    /// Apply pending migrations to MySQL, PostgreSQL and MongoDB, and say what changed.
    Migrate,
    /// Check every store: address, version, status and round-trip latency. Exits 1 if any is down.
    Doctor,
    /// Create the demo accounts (ada, grace, linus; password techhub-demo) if missing, and the
    /// RealWorld demo author johndoe (password johndoe-demo-password) with 3 articles, comments and a follower.
    Demo,
    /// Fill every store with a realistic, reproducible data set (stop the server first).
    Seed(techhub::seed::Sizes),
    /// Print the OpenAPI document of the HTTP API (the one served at /api/openapi.json).
    Openapi,
    /// Grant (or with --revoke, take back) the admin role, which opens /api/admin/reports.
    Admin {
        username: String,
        #[arg(long)]
        revoke: bool,
    },
    /// Rebuild this machine's search index from MongoDB (stop the server using it first).
    Reindex,
    /// Run the outbox and content relays on their own (serve runs them too unless TECHHUB_RELAY=false).
    Relay {
        /// Put the dead (or pending) outbox event with this id back in line, then exit.
        #[arg(long, value_name = "OUTBOX_ID")]
        replay: Option<u64>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.config.log_format);
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => {
            let app = Application::build(cli.config).await?;
            tracing::info!(address = %app.local_addr(), "TechHub listening on http://{}", app.local_addr());
            app.run_until(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            print!("{}", commands::migrate(&cli.config).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => {
            let (report, all_up) = commands::doctor(&cli.config).await?;
            print!("{report}");
            Ok(if all_up {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Relay { replay: Some(id) } => {
            println!("{}", commands::replay(&cli.config, id).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Relay { replay: None } => {
            commands::relay(&cli.config, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin { username, revoke } => {
            println!(
                "{}",
                commands::admin(&cli.config, &username, !revoke).await?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Reindex => {
            print!("{}", commands::reindex(&cli.config).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            print!("{}", commands::demo(&cli.config).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Seed(sizes) => {
            print!("{}", techhub::seed::seed(&cli.config, sizes).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            println!("{}", techhub_api::openapi().to_pretty_json()?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
