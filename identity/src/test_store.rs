//! A migrated store for the unit tests of identity's workflows, with its session store, a
//! hasher and an adjustable clock: a SQLite file in a temporary folder, or a PostgreSQL database
//! made for the test ([`TestDatabase`]). Tests only.

use secrecy::SecretString;
use service_kit::db::{self, Migrations};
use service_kit::Clock;
use sqlx::AnyPool;
use test_support::{Store, TestDatabase};

use crate::passwords::Hasher;
use crate::revocations::RevocationFeed;
use crate::sessions::{Client, LiveSession, SessionPolicy, SessionToken, Sessions};
use crate::users::{self, Email, Name, NewUser, Password, User};

/// The browser every test session is bound to.
pub const USER_AGENT: &str = "Mozilla/5.0 (gatehouse-unit-test)";
const HOUR_MS: i64 = 3_600_000;

/// One test's store and the parts that work on it.
pub struct TestStore {
    pub pool: AnyPool,
    pub sessions: Sessions,
    pub hasher: Hasher,
    pub clock: Clock,
    _dir: tempfile::TempDir,
    // Dropped last, once nothing holds a connection it would have to force closed.
    _postgres: Option<TestDatabase>,
}

/// identity's store at `url`, opened and migrated as the service does.
pub async fn migrated(url: &str) -> db::Database {
    let migrations = Migrations {
        postgres: &crate::POSTGRES_MIGRATIONS,
        sqlite: &crate::SQLITE_MIGRATIONS,
    };
    db::connect(url, crate::SCHEMA, migrations, 4)
        .await
        .expect("store opens")
}

impl TestStore {
    /// A fresh store, or `None` (after saying why) when PostgreSQL is not available here.
    pub async fn open(store: Store) -> Option<TestStore> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, postgres) = test_support::store_url(store, dir.path(), "identity.db").await?;
        let database = migrated(&url).await;
        let clock = Clock::adjustable();
        let policy = SessionPolicy {
            ttl_ms: 24 * 7 * HOUR_MS,
            update_age_ms: 24 * HOUR_MS,
            max_age_ms: 24 * 30 * HOUR_MS,
            fresh_age_ms: 24 * HOUR_MS,
            bind_ip: false,
        };
        let pool = database.pool.clone();
        let feed = RevocationFeed::new(pool.clone(), clock.clone());
        let sessions = match database.backend {
            db::Backend::Sqlite => {
                Sessions::single_process(pool.clone(), policy, false, feed, None)
            }
            db::Backend::Postgres => Sessions::replicated(pool.clone(), policy, false, feed, &url),
        };
        Some(TestStore {
            pool,
            sessions,
            hasher: Hasher::new().await.expect("hasher starts"),
            clock,
            _dir: dir,
            _postgres: postgres,
        })
    }

    /// A new user whose password is `password`.
    pub async fn user(&self, email: &str, password: &str) -> User {
        let email = Email::parse(email).expect("test address");
        let name = Name::parse("Ada").expect("test name");
        let hash = self.hasher.hash(password_of(password)).await.expect("hash");
        let new = NewUser {
            email: &email,
            name: &name,
            password_hash: &hash,
            image: None,
        };
        let id = uuid::Uuid::new_v4().to_string();
        users::create(&self.pool, new, id, self.clock.now_millis())
            .await
            .expect("user created")
    }

    /// Signs `user` in from the test browser; the token behind the new session.
    pub async fn sign_in(&self, user: &User) -> SessionToken {
        let token = SessionToken::generate();
        let now = self.clock.now_millis();
        let mut change = self.sessions.begin().await.expect("change starts");
        change
            .create(&user.id, &token.hash(), &client(), true, now)
            .await
            .expect("session created");
        change.commit().await.expect("session committed");
        token
    }

    /// The live session behind `token` now, if any.
    pub async fn live(&self, token: &SessionToken) -> Option<LiveSession> {
        let now = self.clock.now_millis();
        self.sessions
            .authenticate(token.expose_secret(), &client(), now)
            .await
            .ok()
    }

    /// Whether `password` is the user's password now.
    pub async fn password_is(&self, user_id: &str, password: &str) -> bool {
        let stored = users::password_hash(&self.pool, user_id)
            .await
            .expect("hash read")
            .expect("user exists");
        self.hasher
            .verify(password_of(password), Some(stored))
            .await
            .expect("verify runs")
    }

    /// The user's stored password hash.
    pub async fn stored_hash(&self, user_id: &str) -> String {
        users::password_hash(&self.pool, user_id)
            .await
            .expect("hash read")
            .expect("user exists")
    }
}

/// The test browser.
pub fn client() -> Client {
    Client::parse("203.0.113.9", USER_AGENT).expect("test client")
}

/// A password within the limits.
pub fn password_of(password: &str) -> Password {
    Password::parse(SecretString::from(password.to_owned())).expect("test password")
}
