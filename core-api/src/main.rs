//! The `core-api` binary: configuration, tracing, serve until Ctrl-C.

use clap::Parser;
use core_api::{Config, Server};

#[tokio::main]
async fn main() {
    let config = match Config::try_parse() {
        Ok(config) => config,
        Err(error) if !error.use_stderr() => error.exit(), // --help, --version
        Err(error) => {
            eprintln!(
                "core-api: {}",
                error
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or("bad configuration")
            );
            std::process::exit(1);
        }
    };
    service_kit::telemetry::init();
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("core-api: {}", one_line(&error));
            std::process::exit(1);
        }
    };
    tracing::info!(addr = %server.local_addr(), "core-api listening");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = server.run_until(shutdown).await {
        eprintln!("core-api: {error}");
        std::process::exit(1);
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
