//! What the Gatehouse test suites share, so no test binary keeps its own copy: a PostgreSQL
//! database made for one test and dropped with it ([`TestDatabase`]), the macro that runs a
//! scenario once per store ([`on_both_stores!`]) and one poller ([`eventually`]). A
//! dev-dependency only; never part of a service.

#[cfg(feature = "postgres")]
mod database;
mod poll;

#[cfg(feature = "postgres")]
pub use database::TestDatabase;
pub use poll::{eventually, poll_until, Answer, POLL};

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// The embedded default: a file in the test's temporary folder.
    Sqlite,
    /// A fresh database on the server of `TEST_DATABASE_URL` ([`TestDatabase`]).
    Postgres,
}

/// A test's store: the URL of the SQLite file `file` in `dir`, or of a fresh PostgreSQL database
/// that lives as long as the returned [`TestDatabase`]; `None` when PostgreSQL is not available
/// here and the test should skip.
#[cfg(feature = "postgres")]
pub async fn store_url(
    store: Store,
    dir: &std::path::Path,
    file: &str,
) -> Option<(String, Option<TestDatabase>)> {
    match store {
        Store::Sqlite => Some((format!("sqlite://{}/{file}", dir.display()), None)),
        Store::Postgres => {
            let database = TestDatabase::create().await?;
            Some((database.url().to_owned(), Some(database)))
        }
    }
}

/// Runs each named scenario (`async fn name(store: Store)`) once per store, as the tests
/// `sqlite::name` and `postgres::name` of the module it is called in.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name($crate::Store::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name($crate::Store::Postgres).await } )*
        }
    };
}
