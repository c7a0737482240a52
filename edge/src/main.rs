//! The `edge` binary: reads its configuration, binds, serves until Ctrl-C.
//! Bad configuration exits 1 with one line naming the variable.

use clap::error::ErrorKind;
use clap::Parser;
use edge::{Config, Server};

#[tokio::main]
async fn main() {
    let config = match Config::try_parse() {
        Ok(config) => config,
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            err.exit()
        }
        Err(err) => {
            let rendered = err.to_string();
            let first_line = rendered.lines().next().unwrap_or("invalid configuration");
            eprintln!("edge: {}", first_line.trim_start_matches("error: "));
            std::process::exit(1);
        }
    };
    service_kit::telemetry::init();
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("edge: {err:#}");
            std::process::exit(1);
        }
    };
    tracing::info!(addr = %server.local_addr(), "edge listening");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(err) = server.run_until(shutdown).await {
        eprintln!("edge: {err}");
        std::process::exit(1);
    }
}
