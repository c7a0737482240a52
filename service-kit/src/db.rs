//! Opens the store named by `DATABASE_URL` — `sqlite://PATH` (embedded default) or
//! `postgres://…` — as one `AnyPool`, puts each service in its own schema, and applies its
//! migrations. Services write plain SQL with `$1` placeholders that both stores accept, keep ids
//! as TEXT, times as integer milliseconds and flags as integers, so one query serves both.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

/// `DATABASE_URL`: `sqlite://PATH` or `postgres://…`, checked when parsed so a typo stops the
/// service at start with the variable's name. Its `Debug` hides the password
/// (`postgres://user:***@host/db`), so a configuration can be logged; `expose_secret` is the one
/// way to the whole URL, for [`connect`].
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The whole URL, password included.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return self.0.clone();
        };
        match rest[..at].split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => self.0.clone(),
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = DbError;

    fn from_str(text: &str) -> Result<Self, DbError> {
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if known.iter().any(|prefix| text.starts_with(prefix)) {
            Ok(DatabaseUrl(text.to_owned()))
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }
}

/// clap parses `DATABASE_URL` through [`DatabaseUrlParser`], whose error does not echo the value.
impl clap::builder::ValueParserFactory for DatabaseUrl {
    type Parser = DatabaseUrlParser;

    fn value_parser() -> DatabaseUrlParser {
        DatabaseUrlParser
    }
}

/// Parses a [`DatabaseUrl`]; unlike clap's default, a refusal does not print the value, which may
/// hold a password.
#[derive(Clone, Copy, Debug)]
pub struct DatabaseUrlParser;

impl clap::builder::TypedValueParser for DatabaseUrlParser {
    type Value = DatabaseUrl;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<DatabaseUrl, clap::Error> {
        value
            .to_str()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| {
                let arg = arg.map_or_else(|| "the database URL".to_owned(), ToString::to_string);
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!(
                        "invalid value for '{arg}': must start with sqlite:// or postgres://\n"
                    ),
                )
                .with_cmd(command)
            })
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

/// How long a request may wait for a PostgreSQL connection. While the server is down or
/// restarting, the pool keeps retrying refused connections until this runs out, so it is what an
/// outage costs each request before its clear `503`: it must stay well under edge's
/// `UPSTREAM_TIMEOUT`, else the browser gets a `504` (or waits) instead.
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a request may wait for a SQLite connection (a file: no outage, only busy writers).
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a service waits at start for its store to accept connections.
const STARTUP_WAIT: Duration = Duration::from_secs(5);

/// Which store a pool talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL: the production store.
    Postgres,
    /// SQLite: the embedded default.
    Sqlite,
}

/// An open, migrated store.
#[derive(Clone, Debug)]
pub struct Database {
    /// The connection pool.
    pub pool: AnyPool,
    /// Which store it is.
    pub backend: Backend,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names neither SQLite nor PostgreSQL.
    #[error("DATABASE_URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    /// The schema name is not a plain lower-case identifier.
    #[error("schema name `{0}` is not a plain identifier")]
    BadSchema(String),
    /// The folder for the SQLite file could not be made.
    #[error("cannot create the folder for the SQLite file {path}: {source}")]
    CreateDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server refused or could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    /// The schema could not be created.
    #[error("cannot create schema {schema}: {source}")]
    Schema {
        /// The schema.
        schema: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Where each service's migrations live, per store.
pub struct Migrations<'a> {
    /// Migrations for PostgreSQL.
    pub postgres: &'a Migrator,
    /// Migrations for SQLite.
    pub sqlite: &'a Migrator,
}

/// Opens `url`, creating the SQLite file (and its folder) or the PostgreSQL `schema` if missing,
/// and applies the service's migrations.
pub async fn connect(
    url: &str,
    schema: &str,
    migrations: Migrations<'_>,
    max_connections: u32,
) -> Result<Database, DbError> {
    install_default_drivers();
    if schema.is_empty() || !schema.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(DbError::BadSchema(schema.to_owned()));
    }
    let (backend, url) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (Backend::Postgres, url.to_owned())
    } else if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        (Backend::Sqlite, sqlite_url(rest)?)
    } else {
        return Err(DbError::UnsupportedUrl);
    };

    if backend == Backend::Postgres {
        ensure_schema(&url, schema).await?;
    }

    let schema_owned = schema.to_owned();
    let acquire_timeout = match backend {
        Backend::Postgres => POSTGRES_ACQUIRE_TIMEOUT,
        Backend::Sqlite => SQLITE_ACQUIRE_TIMEOUT,
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .after_connect(move |conn, _meta| {
            let statement = match backend {
                Backend::Postgres => format!("SET search_path TO {schema_owned}"),
                // WAL lets readers run beside the one writer; the busy timeout makes a second
                // writer wait instead of failing at once.
                Backend::Sqlite => "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                                   PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
                    .to_owned(),
            };
            Box::pin(async move {
                conn.execute(statement.as_str()).await?;
                Ok(())
            })
        })
        .connect_lazy(&url)
        .map_err(DbError::Connect)?;
    // A server still coming up gets longer at start than one request's wait.
    let deadline = Instant::now() + STARTUP_WAIT;
    loop {
        match pool.acquire().await {
            Ok(_) => break,
            Err(error) if is_unavailable(&error) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(DbError::Connect(error)),
        }
    }

    let migrator = match backend {
        Backend::Postgres => migrations.postgres,
        Backend::Sqlite => migrations.sqlite,
    };
    migrator.run(&pool).await?;
    Ok(Database { pool, backend })
}

/// Whether `error` says the store cannot be reached, is restarting or ended the connection — an
/// outage worth a `503` the client may retry — rather than a fault of the query.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        // PostgreSQL's connection exceptions (08…), shutdown and start-up (57P01–57P03) and a
        // full server (53300).
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Creates the folder of a SQLite file and asks SQLite to create the file.
fn sqlite_url(rest: &str) -> Result<String, DbError> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" && !path.is_empty() {
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| DbError::CreateDir {
                path: parent.display().to_string(),
                source,
            })?;
        }
    }
    let query = if query.split('&').any(|pair| pair.starts_with("mode=")) {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// Creates the service's schema when it is missing. Checking first lets a production role that
/// owns its schema but may not create schemas start without error.
async fn ensure_schema(url: &str, schema: &str) -> Result<(), DbError> {
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(DbError::Connect)?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_namespace WHERE nspname = $1")
        .bind(schema)
        .fetch_optional(&pool)
        .await
        .map_err(|source| DbError::Schema {
            schema: schema.to_owned(),
            source,
        })?;
    if exists.is_none() {
        // Replicas starting at once race here, and PostgreSQL may fail the loser of two
        // concurrent CREATE SCHEMA IF NOT EXISTS with a unique violation: the schema is there
        // then, which is all that matters.
        let created = pool
            .execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str())
            .await;
        if let Err(source) = created {
            let now_exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_namespace WHERE nspname = $1")
                    .bind(schema)
                    .fetch_optional(&pool)
                    .await
                    .unwrap_or(None);
            if now_exists.is_none() {
                return Err(DbError::Schema {
                    schema: schema.to_owned(),
                    source,
                });
            }
        }
    }
    pool.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_debug_hides_the_password() {
        let url: DatabaseUrl = "postgres://core:hunter2@db:5432/gatehouse"
            .parse()
            .expect("parses");
        let printed = format!("{url:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://core:***@db:5432/gatehouse"),
            "{printed}"
        );
        assert_eq!(
            url.expose_secret(),
            "postgres://core:hunter2@db:5432/gatehouse"
        );
    }

    #[test]
    fn database_url_without_a_password_prints_as_it_is() {
        for text in [
            "sqlite://data/x.db",
            "postgres://core@db/gatehouse",
            "postgresql://db/g",
        ] {
            let url: DatabaseUrl = text.parse().expect("parses");
            assert_eq!(url.redacted(), text);
        }
    }

    #[test]
    fn a_refused_database_url_is_not_echoed() {
        use clap::Parser;

        #[derive(Parser, Debug)]
        struct Example {
            #[arg(long, default_value = "sqlite://x.db")]
            database_url: DatabaseUrl,
        }
        let error = Example::try_parse_from(["x", "--database-url", "mysql://u:hunter2@db/x"])
            .expect_err("mysql is refused");
        let line = crate::cli::first_line(&error);
        assert!(!line.contains("hunter2"), "{line}");
        assert!(line.contains("--database-url"), "{line}");
        let fine = Example::try_parse_from(["x"]).expect("the default parses");
        assert_eq!(fine.database_url.expose_secret(), "sqlite://x.db");
    }

    #[test]
    fn database_url_names_only_the_two_stores() {
        for text in ["mysql://x", "", "sqlite", "postgres:/x"] {
            assert!(
                text.parse::<DatabaseUrl>().is_err(),
                "{text} should be refused"
            );
        }
    }

    #[test]
    fn sqlite_url_asks_for_creation_unless_a_mode_is_given() {
        let dir = std::env::temp_dir().join("service-kit-url-test");
        let path = format!("{}/x.db", dir.display());
        assert_eq!(
            sqlite_url(&path).unwrap(),
            format!("sqlite://{path}?mode=rwc")
        );
        assert_eq!(
            sqlite_url(&format!("{path}?mode=ro")).unwrap(),
            format!("sqlite://{path}?mode=ro")
        );
        assert!(dir.is_dir());
    }
}
