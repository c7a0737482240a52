//! edge's configuration: read once from the environment (or flags) at start and checked there, so
//! a bad value stops the service with one line naming the variable. Nothing else reads the
//! environment.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

pub use crate::browser::TrustedProxies;

/// Configuration of the edge service; every field can be set by its environment variable.
#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "edge",
    about = "Gatehouse edge: the public service holding the session cookie"
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long = "addr", env = "EDGE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// After SIGTERM or SIGINT, how long requests in flight may take to finish before their
    /// connections are dropped (e.g. `10s`, `1m`).
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = service_kit::parse_duration)]
    pub shutdown_grace: Duration,

    /// Base URL of identity's internal API.
    #[arg(long, env = "IDENTITY_URL", default_value = "http://127.0.0.1:8081")]
    pub identity_url: String,

    /// Base URL of core-api (an origin: scheme, host and port, no path).
    #[arg(long, env = "CORE_API_URL", default_value = "http://127.0.0.1:8082")]
    pub core_api_url: String,

    /// edge's URL as browsers see it: its origin is the only one allowed to change state, and an
    /// https URL makes the session cookie `__Host-` and `Secure`.
    #[arg(long, env = "PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,

    /// Largest request body, in bytes, that edge forwards to core-api.
    #[arg(long, env = "BODY_LIMIT", default_value_t = 1_048_576)]
    pub body_limit: usize,

    /// How long one call to identity or core-api may take, connecting and reading included
    /// (`10s`, `1m`, or milliseconds such as `500ms`).
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "10s", value_parser = service_kit::duration::parse_timeout)]
    pub upstream_timeout: Duration,

    /// Proxies whose `X-Forwarded-For` edge believes: a comma list of CIDRs or addresses (e.g.
    /// `10.0.0.0/8,fd00::/8`); empty (the default) trusts none and takes the TCP peer.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,

    /// Sign-up, sign-in, password-reset, verification-mail and password-change requests allowed
    /// per client address (IPv6: per /64) in any 60 seconds; `0` turns the limit off.
    #[arg(long, env = "AUTH_RATE_LIMIT", default_value_t = 30)]
    pub auth_rate_limit: u32,

    /// How long a client may take to send a request's headers before edge answers 408 and closes
    /// the connection (an idle keep-alive connection is closed without an answer).
    #[arg(long, env = "HEADER_TIMEOUT", default_value = "10s", value_parser = service_kit::duration::parse_timeout)]
    pub header_timeout: Duration,

    /// How long a client may take to send a request's body, from its headers on, before edge
    /// answers `408` and closes the connection.
    #[arg(long, env = "BODY_TIMEOUT", default_value = "30s", value_parser = service_kit::duration::parse_timeout)]
    pub body_timeout: Duration,

    /// Most client connections open at once; further clients wait to be accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Log lines as `text` (human-readable) or `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: service_kit::telemetry::LogFormat,

    /// Where `GET /metrics` is served, apart from the public listener (empty: nowhere).
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: service_kit::metrics::MetricsAddr,
}

/// The default `MAX_CONNECTIONS`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

impl Default for Config {
    /// clap's documented defaults, without reading the environment (tests and `stack` start
    /// here), so the defaults are written once, in the `#[arg]`s above.
    fn default() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Config::command()
            .mut_args(|arg| arg.env(None::<&str>))
            .try_get_matches_from(["edge"])
            .expect("edge's clap defaults parse");
        Config::from_arg_matches(&matches).expect("edge's clap defaults make a Config")
    }
}

/// A configuration value edge cannot work with.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// The value it had.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            variable,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Parses an http(s) URL with a host and no query or fragment.
pub(crate) fn http_url(variable: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::new(variable, value, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            variable,
            value,
            "the scheme must be http or https",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(variable, value, "the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            variable,
            value,
            "the URL must not have a query or fragment",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            variable,
            value,
            "the URL must not carry credentials",
        ));
    }
    Ok(url)
}

/// Checks the numeric settings that clap's types alone cannot.
pub(crate) fn check_limits(config: &Config) -> Result<(), ConfigError> {
    if config.body_limit == 0 {
        return Err(ConfigError::new(
            "BODY_LIMIT",
            "0",
            "must be at least 1 byte",
        ));
    }
    if config.max_connections == 0 {
        return Err(ConfigError::new(
            "MAX_CONNECTIONS",
            "0",
            "must be at least 1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_override_defaults_and_durations_use_service_units() {
        let config = Config::try_parse_from([
            "edge",
            "--addr",
            "127.0.0.1:0",
            "--upstream-timeout",
            "2m",
            "--body-limit",
            "10",
        ])
        .expect("these flags are valid");
        assert_eq!(config.addr.port(), 0);
        assert_eq!(config.upstream_timeout, Duration::from_secs(120));
        assert_eq!(config.body_limit, 10);
    }

    #[test]
    fn abuse_settings_have_the_documented_defaults_and_refuse_bad_values() {
        let config = Config::try_parse_from(["edge"]).expect("defaults parse");
        assert_eq!(config.trusted_proxies, TrustedProxies::default());
        assert_eq!(config.auth_rate_limit, 30);
        assert_eq!(config.header_timeout, Duration::from_secs(10));
        assert_eq!(config.body_timeout, Duration::from_secs(30));
        assert_eq!(config.max_connections, DEFAULT_MAX_CONNECTIONS);
        let defaults = Config::default();
        assert_eq!(defaults.auth_rate_limit, config.auth_rate_limit);
        assert_eq!(defaults.header_timeout, config.header_timeout);
        assert_eq!(defaults.body_timeout, config.body_timeout);

        let config = Config::try_parse_from(["edge", "--trusted-proxies", "10.0.0.0/8, ::1"])
            .expect("a CIDR list parses");
        assert_ne!(config.trusted_proxies, TrustedProxies::default());
        let err = Config::try_parse_from(["edge", "--trusted-proxies", "10.0.0.0/8,nope"])
            .expect_err("garbage is refused");
        assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
        let err = check_limits(&Config {
            max_connections: 0,
            ..Config::default()
        })
        .expect_err("no connections at all is refused");
        assert_eq!(err.variable, "MAX_CONNECTIONS");
    }

    #[test]
    fn upstream_urls_must_be_plain_http_urls() {
        assert!(http_url("IDENTITY_URL", "http://127.0.0.1:8081").is_ok());
        for bad in [
            "127.0.0.1:8081",
            "ftp://x",
            "http://x/?a=1",
            "http://u:p@x",
            "not a url",
        ] {
            let err = http_url("IDENTITY_URL", bad).expect_err(bad);
            assert!(err.to_string().starts_with("IDENTITY_URL="), "{err}");
        }
    }
}
