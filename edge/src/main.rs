//! The `edge` binary: reads its configuration, binds, serves until SIGTERM or Ctrl-C, then drains.
//! `edge healthcheck` asks the running service's `/readyz` instead.
//! Bad configuration exits 1 with one line naming the variable.

use clap::Parser;
use edge::{Config, Server};

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        std::process::exit(healthcheck());
    }
    let config: Config = service_kit::cli::parse_or_exit("edge");
    let logs = service_kit::telemetry::init_for("edge", config.log_format);
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(err) => {
            drop(logs);
            eprintln!("edge: {err:#}");
            std::process::exit(1);
        }
    };
    tracing::info!(addr = %server.local_addr(), "edge listening");
    if let Err(err) = server
        .run_until(service_kit::serve::shutdown_signal())
        .await
    {
        drop(logs);
        eprintln!("edge: {err}");
        std::process::exit(1);
    }
    tracing::info!("edge stopped");
}

/// `edge healthcheck`: 0 when the edge configured by this environment answers `/readyz` with 200.
fn healthcheck() -> i32 {
    match Config::try_parse_from(["edge"]) {
        Ok(config) => service_kit::healthcheck::run("edge", config.addr),
        Err(err) => {
            eprintln!("edge: {}", service_kit::cli::first_line(&err));
            1
        }
    }
}
