//! The `identity` binary: `identity` / `identity serve` runs the service, `identity keys VERB`
//! manages the signing keys. Everything else lives in the library.

use clap::{Parser, Subcommand};
use identity::keys::{self, KeysArgs};
use identity::{Config, Server};
use service_kit::Clock;

/// Gatehouse identity. The signing keys are managed by `identity keys` (see `identity keys --help`).
#[derive(Parser)]
#[command(name = "identity", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

/// `identity keys …` alone, so the service's variables are not read (or judged) for it.
#[derive(Parser)]
#[command(name = "identity")]
struct KeysCli {
    #[command(subcommand)]
    command: KeysOnly,
}

#[derive(Subcommand)]
enum KeysOnly {
    /// Manage the signing keys.
    Keys(KeysArgs),
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve(Config),
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        std::process::exit(healthcheck());
    }
    if std::env::args().nth(1).as_deref() == Some("keys") {
        // clap's usage errors exit 2, as the CLI contract says.
        let KeysOnly::Keys(args) = KeysCli::parse().command;
        std::process::exit(keys::cli::run(args, &Clock::system()));
    }
    // Bad configuration: one line saying which variable and why.
    let cli: Cli = service_kit::cli::parse_or_exit("identity");
    let mut config = match cli.command {
        Some(Command::Serve(config)) => config,
        None => cli.config,
    };
    config.social = match identity::social::settings::from_vars(|name| std::env::var(name).ok()) {
        Ok(providers) => providers,
        Err(line) => {
            eprintln!("identity: {line}");
            std::process::exit(1);
        }
    };
    let logs = service_kit::telemetry::init_for("identity", config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            drop(logs);
            eprintln!("identity: cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    };
    if let Err(error) = runtime.block_on(serve(config)) {
        drop(logs);
        eprintln!("identity: {error:#}");
        std::process::exit(1);
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::bind(config, Clock::system()).await?;
    tracing::info!(addr = %server.local_addr(), "identity listening");
    server
        .run_until(service_kit::serve::shutdown_signal())
        .await?;
    tracing::info!("identity stopped");
    Ok(())
}

/// `identity healthcheck`: 0 when the identity configured by this environment answers `/readyz`
/// with 200. Only the address is used, so a check never fails on the other variables' rules.
fn healthcheck() -> i32 {
    match Config::try_parse_from(["identity"]) {
        Ok(config) => service_kit::healthcheck::run("identity", config.addr),
        Err(error) => {
            eprintln!("identity: {}", service_kit::cli::first_line(&error));
            1
        }
    }
}
