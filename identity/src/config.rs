//! identity's configuration: one clap struct read from flags and the environment, checked once
//! at start. It never reads the environment anywhere else; its `Debug` shows no secret (the
//! database and SMTP URLs print without their passwords).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::ArgAction;
use service_kit::db::DatabaseUrl;
use service_kit::parse_duration;

/// identity's configuration (`identity serve --help` lists every variable with its default).
#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "identity",
    about = "Gatehouse identity: users, sessions and the token exchange"
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "IDENTITY_ADDR", default_value = "127.0.0.1:8081")]
    pub addr: SocketAddr,

    /// After SIGTERM or SIGINT, how long requests in flight may take to finish before their
    /// connections are dropped (e.g. `10s`, `1m`).
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// The store: `sqlite://PATH` (file and folder created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/identity.db"
    )]
    pub database_url: DatabaseUrl,

    /// Directory of the signing-key ring (create it with `identity keys init`).
    #[arg(long, env = "KEYS_DIR", default_value = "keys")]
    pub keys_dir: PathBuf,

    /// Accept private key files readable by their group (a Kubernetes Secret volume, which the
    /// pod's `fsGroup` makes group-readable); files readable by others are refused either way.
    #[arg(long, env = "KEYS_GROUP_READABLE", default_value = "false", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub keys_group_readable: bool,

    /// The `iss` of every token identity signs, and the base of its metadata URLs.
    #[arg(long, env = "ISSUER", default_value = "http://127.0.0.1:8081")]
    pub issuer: String,

    /// edge's public origin, for links in emails.
    #[arg(long, env = "PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,

    /// Audiences identity issues tokens for (comma-separated allow-list).
    #[arg(
        long,
        env = "TOKEN_AUDIENCES",
        default_value = "core-api",
        value_delimiter = ','
    )]
    pub token_audiences: Vec<String>,

    /// How long a session lives after sign-in or its last extension.
    #[arg(long, env = "SESSION_TTL", default_value = "7d", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// How old a session's last extension must be before a use extends it again.
    #[arg(long, env = "SESSION_UPDATE_AGE", default_value = "1d", value_parser = parse_duration)]
    pub session_update_age: Duration,

    /// Absolute lifetime of a session from sign-in, whatever its extensions.
    #[arg(long, env = "SESSION_MAX_AGE", default_value = "30d", value_parser = parse_duration)]
    pub session_max_age: Duration,

    /// How long after sign-in a session counts as fresh for sensitive changes.
    #[arg(long, env = "SESSION_FRESH_AGE", default_value = "1d", value_parser = parse_duration)]
    pub session_fresh_age: Duration,

    /// Refuse a session used from another IP address than the one it was created from.
    #[arg(long, env = "SESSION_BIND_IP", default_value = "false", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub session_bind_ip: bool,

    /// Refuse sign-in until the user's email address is verified.
    #[arg(long, env = "REQUIRE_EMAIL_VERIFICATION", default_value = "false", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub require_email_verification: bool,

    /// `max-age` of the JWKS response; verifiers cache the key set this long.
    #[arg(long, env = "JWKS_MAX_AGE", default_value = "60s", value_parser = parse_duration)]
    pub jwks_max_age: Duration,

    /// How long an email-verification link works.
    #[arg(long, env = "VERIFICATION_TTL", default_value = "24h", value_parser = parse_duration)]
    pub verification_ttl: Duration,

    /// How long a password-reset link works.
    #[arg(long, env = "RESET_TTL", default_value = "1h", value_parser = parse_duration)]
    pub reset_ttl: Duration,

    /// SMTP server for outgoing mail: `smtp://host:port` (plain), `smtp://host:port?tls=required`
    /// (STARTTLS), `smtps://host:port` (TLS), credentials as `user:password@`. Required unless
    /// `DEV_MAILBOX=true`.
    #[arg(long, env = "SMTP_URL")]
    pub smtp_url: Option<crate::mail::SmtpUrl>,

    /// Development only: keep mail (reset links included) in the outbox, shown to anyone who can
    /// reach edge's `/dev/mailbox`, instead of sending it. Exclusive with `SMTP_URL`.
    #[arg(long, env = "DEV_MAILBOX", default_value = "false", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub dev_mailbox: bool,

    /// The sender of every mail.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Gatehouse <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// Serve the token exchange's session lookups from memory. On SQLite the file is then held by
    /// this process alone; on PostgreSQL replicas keep each other's caches exact (LISTEN/NOTIFY
    /// with acknowledgements and leases), so a revocation answered anywhere holds everywhere.
    #[arg(long, env = "SESSION_CACHE", default_value = "on", value_enum)]
    pub session_cache: SessionCacheMode,

    /// Failed password sign-ins to one address (or one device) before it is locked.
    #[arg(long, env = "LOCKOUT_THRESHOLD", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub lockout_threshold: u32,

    /// The first lock; each failure after a lock has ended locks again for twice the last.
    #[arg(long, env = "LOCKOUT_DURATION", default_value = "1m", value_parser = parse_duration)]
    pub lockout_duration: Duration,

    /// The longest lock.
    #[arg(long, env = "LOCKOUT_MAX", default_value = "1h", value_parser = parse_duration)]
    pub lockout_max: Duration,

    /// Password-hashing jobs that may wait for a thread; past it requests get `503 SERVER_BUSY`.
    /// `0`: 100 per core (about 2 s of work).
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 0)]
    pub password_hash_queue: usize,

    /// Log lines as `text` (human-readable) or `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: service_kit::telemetry::LogFormat,

    /// Where `GET /metrics` is served, apart from the API (empty: nowhere).
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9465")]
    pub metrics_addr: service_kit::metrics::MetricsAddr,

    /// Social sign-in providers (DESIGN §17): read from `SOCIAL_PROVIDERS` and the
    /// `SOCIAL_<ID>_*` variables by [`crate::social::settings::from_vars`], whose names clap
    /// cannot know in advance.
    #[arg(skip)]
    pub social: Vec<crate::social::settings::ProviderSettings>,
}

/// `SESSION_CACHE`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionCacheMode {
    /// Lookups answered from memory while exact (the default, both stores).
    On,
    /// Every lookup reads the store.
    Off,
}

impl Config {
    /// Checks what clap cannot check field by field; the error names the variable and says why.
    pub fn validate(&self) -> Result<(), String> {
        for (variable, url) in [("ISSUER", &self.issuer), ("PUBLIC_URL", &self.public_url)] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "{variable} must be an http:// or https:// URL, got `{url}`"
                ));
            }
        }
        if self
            .token_audiences
            .iter()
            .any(|audience| audience.trim().is_empty())
        {
            return Err("TOKEN_AUDIENCES must be a comma-separated list of non-empty names".into());
        }
        if self.session_ttl > self.session_max_age {
            return Err("SESSION_TTL must not be longer than SESSION_MAX_AGE".into());
        }
        self.check_mail_settings()?;
        if self.lockout_duration > self.lockout_max {
            return Err("LOCKOUT_DURATION must not be longer than LOCKOUT_MAX".into());
        }
        Ok(())
    }

    /// Mail goes to exactly one place (DESIGN §8): a deployment that forgets `SMTP_URL` stops
    /// here instead of publishing every reset link at `/dev/mailbox`. One line naming both.
    pub fn check_mail_settings(&self) -> Result<(), String> {
        match (&self.smtp_url, self.dev_mailbox) {
            (Some(_), false) | (None, true) => Ok(()),
            (None, false) => Err(
                "SMTP_URL is not set: set it to the mail server, or set DEV_MAILBOX=true \
                                  for development only (mail then shows at /dev/mailbox to anyone)"
                    .into(),
            ),
            (Some(_), true) => Err(
                "SMTP_URL and DEV_MAILBOX=true are both set: choose one (DEV_MAILBOX=true \
                                    keeps mail at /dev/mailbox instead of sending it)"
                    .into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn debug_hides_the_database_password() {
        let config = Config::try_parse_from([
            "identity",
            "--database-url",
            "postgres://identity:hunter2@db:5432/gatehouse",
        ])
        .expect("parses");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://identity:***@db:5432/gatehouse"),
            "{printed}"
        );
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config =
            Config::try_parse_from(["identity", "--dev-mailbox", "true"]).expect("defaults parse");
        assert_eq!(config.session_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(config.session_update_age, Duration::from_secs(86_400));
        assert_eq!(config.session_max_age, Duration::from_secs(30 * 86_400));
        assert!(!config.session_bind_ip);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn audiences_are_a_comma_list_and_flags_take_booleans() {
        let config = Config::try_parse_from([
            "identity",
            "--token-audiences",
            "core-api,billing",
            "--session-bind-ip",
            "true",
            "--session-ttl",
            "90s",
        ])
        .expect("parses");
        assert_eq!(config.token_audiences, ["core-api", "billing"]);
        assert!(config.session_bind_ip);
        assert_eq!(config.session_ttl, Duration::from_secs(90));
    }

    #[test]
    fn a_ttl_longer_than_the_maximum_is_refused_by_name() {
        let config = Config::try_parse_from(["identity", "--session-ttl", "40d"]).expect("parses");
        assert!(config.validate().unwrap_err().contains("SESSION_TTL"));
    }

    #[test]
    fn mail_needs_exactly_one_of_smtp_url_and_dev_mailbox_named_in_one_line() {
        let neither = Config::try_parse_from(["identity"])
            .expect("parses")
            .validate()
            .unwrap_err();
        let both = Config::try_parse_from([
            "identity",
            "--smtp-url",
            "smtp://mail:25",
            "--dev-mailbox",
            "true",
        ])
        .expect("parses")
        .validate()
        .unwrap_err();
        for message in [neither, both] {
            assert!(
                message.contains("SMTP_URL") && message.contains("DEV_MAILBOX"),
                "{message}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
        let smtp =
            Config::try_parse_from(["identity", "--smtp-url", "smtp://mail:25"]).expect("parses");
        assert!(smtp.validate().is_ok());
        assert!(!smtp.dev_mailbox, "DEV_MAILBOX defaults to false");
    }
}
