//! The `core-api` binary: configuration, tracing, serve until SIGTERM or Ctrl-C, then drain.
//! `core-api healthcheck` asks the running service's `/readyz` instead.

use clap::Parser;
use core_api::{Config, Server};

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        std::process::exit(healthcheck());
    }
    let config: Config = service_kit::cli::parse_or_exit("core-api");
    let logs = service_kit::telemetry::init_for("core-api", config.log_format);
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(error) => {
            drop(logs);
            eprintln!("core-api: {}", one_line(&error));
            std::process::exit(1);
        }
    };
    tracing::info!(addr = %server.local_addr(), "core-api listening");
    if let Err(error) = server
        .run_until(service_kit::serve::shutdown_signal())
        .await
    {
        drop(logs);
        eprintln!("core-api: {error}");
        std::process::exit(1);
    }
    tracing::info!("core-api stopped");
}

/// `core-api healthcheck`: 0 when the core-api configured by this environment answers `/readyz`
/// with 200.
fn healthcheck() -> i32 {
    match Config::try_parse_from(["core-api"]) {
        Ok(config) => service_kit::healthcheck::run("core-api", config.addr),
        Err(error) => {
            eprintln!("core-api: {}", service_kit::cli::first_line(&error));
            1
        }
    }
}

/// The error and its causes on one line, skipping a cause its parent already quoted.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
