//! A PostgreSQL database made for one test on the server of `TEST_DATABASE_URL`, and dropped
//! with it, so runs leave nothing behind and tests never share data.

use std::time::Duration;

use sqlx::Connection;

/// A database `gh_test_<uuid>` that lives as long as this value.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a database on the server of `TEST_DATABASE_URL` (whose role may create
    /// databases). Without the variable: `None` after saying the test is skipped — or, under
    /// `CI=true`, a failure, so CI cannot skip PostgreSQL silently.
    pub async fn create() -> Option<TestDatabase> {
        let admin_url = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("TEST_DATABASE_URL must be set when CI=true: the PostgreSQL tests may not be skipped")
            }
            _ => {
                eprintln!("skipping a PostgreSQL test: TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)");
                return None;
            }
        };
        let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("TEST_DATABASE_URL accepts connections");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("TEST_DATABASE_URL's role may create databases");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(TestDatabase {
            url: url.to_string(),
            admin_url,
            name,
        })
    }

    /// The database's URL, as the admin URL's role.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        // FORCE ends the connections the service's pool still holds.
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside the test's runtime, which must not block on itself: a thread with
        // its own runtime removes the database.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|error| error.to_string())?;
                tokio::time::timeout(
                    Duration::from_secs(10),
                    sqlx::query(&statement).execute(&mut admin),
                )
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|error| error.to_string())?;
                Ok::<(), String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("note: could not drop test database {}", self.name);
        }
    }
}
