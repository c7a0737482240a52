//! core-api's configuration: read once from flags or the environment by `Config::parse()` and
//! checked there; nothing else in the crate reads the environment.

use std::net::SocketAddr;
use std::time::Duration;

use service_kit::db::DatabaseUrl;

/// Configuration: every field from a flag or its environment variable, with a default. Its
/// `Debug` holds no credential: the database URL prints without its password.
#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "core-api",
    about = "Gatehouse core-api: the business API behind edge."
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free one).
    #[arg(
        long,
        env = "CORE_API_ADDR",
        value_name = "CORE_API_ADDR",
        default_value = "127.0.0.1:8082"
    )]
    pub addr: SocketAddr,

    /// After SIGTERM or SIGINT, how long requests in flight may take to finish before their
    /// connections are dropped (e.g. `10s`, `1m`).
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = service_kit::parse_duration)]
    pub shutdown_grace: Duration,

    /// The store: `sqlite://PATH` (file and folder created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/core-api.db"
    )]
    pub database_url: DatabaseUrl,

    /// Where identity publishes the keys that sign internal tokens.
    #[arg(long, env = "JWKS_URL", default_value = "http://127.0.0.1:8081/.well-known/jwks.json", value_parser = http_url)]
    pub jwks_url: String,

    /// The `iss` every accepted token must carry: identity's issuer URL.
    #[arg(long, env = "ISSUER", default_value = "http://127.0.0.1:8081")]
    pub issuer: String,

    /// The `aud` every accepted token must contain: this service's name.
    #[arg(long, env = "AUDIENCE", default_value = "core-api")]
    pub audience: String,

    /// How often the JWKS is fetched again in the background (e.g. 30s, 5m).
    #[arg(long, env = "JWKS_REFRESH", default_value = "30s", value_parser = service_kit::parse_duration)]
    pub jwks_refresh: Duration,

    /// identity's stream of ended sessions; tokens of an ended session are refused from the
    /// moment it arrives (default: the JWKS_URL's origin + `/v1/revocations`).
    #[arg(long, env = "REVOCATIONS_URL", value_parser = http_url)]
    pub revocations_url: Option<String>,

    /// Where accepted token ids are kept so each token is used once: `memory` (this process) or
    /// `postgres` (core-api's PostgreSQL database, shared by every replica).
    #[arg(long, env = "JTI_STORE", default_value = "memory", value_enum)]
    pub jti_store: JtiStore,

    /// Log lines as `text` (human-readable) or `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: service_kit::telemetry::LogFormat,

    /// Where `GET /metrics` is served, apart from the API (empty: nowhere).
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9466")]
    pub metrics_addr: service_kit::metrics::MetricsAddr,
}

/// `JTI_STORE`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum JtiStore {
    /// This process remembers the tokens it accepted.
    Memory,
    /// core-api's PostgreSQL database does, for every replica.
    Postgres,
}

impl Config {
    /// Checks what clap cannot check field by field; the error names the variable and says why.
    pub fn validate(&self) -> Result<(), String> {
        let on_postgres = self.database_url.expose_secret().starts_with("postgres");
        if self.jti_store == JtiStore::Postgres && !on_postgres {
            return Err(
                "JTI_STORE=postgres needs DATABASE_URL to be a postgres:// URL (the replicas' shared database)"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// Accepts an absolute http(s) URL.
fn http_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| "must be an http:// or https:// URL".to_owned())?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("must name a host".to_owned());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_match_the_brief() {
        let config = Config::try_parse_from(["core-api"]).expect("defaults parse");
        assert_eq!(config.addr.to_string(), "127.0.0.1:8082");
        assert_eq!(
            config.database_url.expose_secret(),
            "sqlite://data/core-api.db"
        );
        assert_eq!(
            config.jwks_url,
            "http://127.0.0.1:8081/.well-known/jwks.json"
        );
        assert_eq!(config.issuer, "http://127.0.0.1:8081");
        assert_eq!(config.audience, "core-api");
        assert_eq!(config.jwks_refresh, Duration::from_secs(30));
        assert_eq!(config.log_format, service_kit::telemetry::LogFormat::Text);
        assert_eq!(config.metrics_addr.to_string(), "127.0.0.1:9466");
        let off = Config::try_parse_from(["core-api", "--metrics-addr", ""]).expect("empty parses");
        assert_eq!(off.metrics_addr.0, None);
    }

    #[test]
    fn bad_values_are_refused_at_parse_time() {
        for args in [
            ["core-api", "--database-url", "mysql://x"],
            ["core-api", "--jwks-url", "ftp://x"],
            ["core-api", "--jwks-refresh", "0s"],
            ["core-api", "--addr", "nowhere"],
        ] {
            assert!(
                Config::try_parse_from(args).is_err(),
                "{args:?} should be refused"
            );
        }
    }

    #[test]
    fn debug_hides_the_database_password() {
        let config = Config::try_parse_from([
            "core-api",
            "--database-url",
            "postgres://core:hunter2@db:5432/gatehouse",
        ])
        .expect("parses");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://core:***@db:5432/gatehouse"),
            "{printed}"
        );
    }
}
