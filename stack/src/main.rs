//! `stack`: the whole of Gatehouse in one process for development, on the embedded default
//! (SQLite files under `data/`, a development key ring under `keys/` created on first run).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Runs edge, identity and core-api together, each on its own port.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// identity's store.
    #[arg(long, env = "IDENTITY_DATABASE_URL", default_value = "sqlite://data/identity.db")]
    identity_database_url: String,
    /// core-api's store.
    #[arg(long, env = "CORE_API_DATABASE_URL", default_value = "sqlite://data/core-api.db")]
    core_api_database_url: String,
    /// The signing-key directory; a first key is created there if it holds none.
    #[arg(long, env = "KEYS_DIR", default_value = "keys")]
    keys_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let args = Args::parse();
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
    let mut core_config = core_api::Config::try_parse_from(["core-api"])?;
    core_config.database_url = args.core_api_database_url;
    let edge_config = edge::Config::try_parse_from(["edge"])?;
    let public_url = edge_config.public_url.clone();
    let dev_mailbox = identity_config.dev_mailbox;

    let stack = stack::start(identity_config, core_config, edge_config, clock).await?;
    let edge_url = stack.edge.url();
    println!("Gatehouse is running.");
    println!("  edge (public):     {edge_url}   <- open this ({public_url})");
    println!("  identity (private): {}", stack.identity.url());
    println!("  core-api (private): {}", stack.core_api.url());
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
