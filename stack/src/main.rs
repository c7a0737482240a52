//! `stack`: the whole of Gatehouse in one process for development, on the embedded default
//! (SQLite files under `data/`, a development key ring under `keys/` created on first run).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use service_kit::db::DatabaseUrl;
use service_kit::metrics::MetricsAddr;
use service_kit::telemetry::LogFormat;

/// Runs edge, identity and core-api together, each on its own port.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// identity's store.
    #[arg(
        long,
        env = "IDENTITY_DATABASE_URL",
        default_value = "sqlite://data/identity.db"
    )]
    identity_database_url: DatabaseUrl,
    /// core-api's store.
    #[arg(
        long,
        env = "CORE_API_DATABASE_URL",
        default_value = "sqlite://data/core-api.db"
    )]
    core_api_database_url: DatabaseUrl,
    /// The signing-key directory; a first key is created there if it holds none.
    #[arg(long, env = "KEYS_DIR", default_value = "keys")]
    keys_dir: PathBuf,
    /// Log lines as `text` or `json` (one object per line, each naming its service).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// edge's metrics listener; identity's is on the next port, core-api's on the one after
    /// (empty: none). Apart from the standalone defaults (9464-9466), so both can run at once.
    #[arg(long, env = "STACK_METRICS_ADDR", default_value = "127.0.0.1:9474")]
    metrics_addr: MetricsAddr,
}

/// The three metrics listeners from `STACK_METRICS_ADDR`: edge's, identity's, core-api's.
fn metrics_addrs(MetricsAddr(base): MetricsAddr) -> anyhow::Result<[MetricsAddr; 3]> {
    let Some(base) = base else {
        return Ok([MetricsAddr(None); 3]);
    };
    let at = |offset: u16| -> anyhow::Result<MetricsAddr> {
        if base.port() == 0 {
            return Ok(MetricsAddr(Some(base)));
        }
        let port = base
            .port()
            .checked_add(offset)
            .context("STACK_METRICS_ADDR: the port is too high")?;
        Ok(MetricsAddr(Some(std::net::SocketAddr::new(
            base.ip(),
            port,
        ))))
    };
    Ok([at(0)?, at(1)?, at(2)?])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _logs = service_kit::telemetry::init_for("stack", args.log_format);
    let [edge_metrics, identity_metrics, core_metrics] = metrics_addrs(args.metrics_addr)?;
    let clock = stack::Clock::system();

    if let Some(kid) = identity::keys::ensure_initialized(&args.keys_dir, &clock)
        .with_context(|| format!("cannot prepare the key ring in {}", args.keys_dir.display()))?
    {
        tracing::info!(%kid, dir = %args.keys_dir.display(), "created a development signing key");
    }

    // Each service reads its own variables (ports, issuer, session durations…); stack only
    // decides where the stores and keys live.
    let mut identity_config = identity::Config::try_parse_from(["identity"])?;
    identity_config.database_url = args.identity_database_url;
    identity_config.keys_dir = args.keys_dir;
    // The development command keeps mail for /dev/mailbox unless SMTP_URL names a server (DESIGN
    // §8); DEV_MAILBOX set in the environment is honoured as it is.
    identity_config.dev_mailbox = identity_config.dev_mailbox || identity_config.smtp_url.is_none();
    identity_config.metrics_addr = identity_metrics;
    identity_config.social = identity::social::settings::from_vars(|name| std::env::var(name).ok())
        .map_err(anyhow::Error::msg)?;
    let mut core_config = core_api::Config::try_parse_from(["core-api"])?;
    core_config.database_url = args.core_api_database_url;
    core_config.metrics_addr = core_metrics;
    let mut edge_config = edge::Config::try_parse_from(["edge"])?;
    edge_config.metrics_addr = edge_metrics;
    let public_url = edge_config.public_url.clone();
    let dev_mailbox = identity_config.dev_mailbox;

    let stack = stack::start(identity_config, core_config, edge_config, clock).await?;
    let edge_url = stack.edge.url();
    println!("Gatehouse is running.");
    println!("  edge (public):     {edge_url}   <- open this ({public_url})");
    println!("  identity (private): {}", stack.identity.url());
    println!("  core-api (private): {}", stack.core_api.url());
    for (name, running) in [
        ("edge", &stack.edge),
        ("identity", &stack.identity),
        ("core-api", &stack.core_api),
    ] {
        if let Some(addr) = running.metrics_addr() {
            println!("  metrics of {name}: http://{addr}/metrics");
        }
    }
    if dev_mailbox {
        println!("  mail (DEV_MAILBOX): {edge_url}/dev/mailbox   <- mail is kept here, not sent");
    }
    println!();
    println!("Try it:");
    println!(
        "  curl -c jar -H 'Content-Type: application/json' -d '{{\"name\":\"Ada\",\"email\":\"ada@example.com\",\"password\":\"correct horse battery\"}}' {edge_url}/api/auth/sign-up/email"
    );
    println!("  curl -b jar {edge_url}/api/profile");
    println!("Press Ctrl-C to stop.");

    service_kit::serve::shutdown_signal().await;
    stack.edge.stop().await?;
    stack.core_api.stop().await?;
    stack.identity.stop().await?;
    Ok(())
}
