//! core-api against its contract (DESIGN §4, §9): the real server on 127.0.0.1:0, a real store
//! (SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set) and tokens signed by a key the test
//! makes, spoken to over HTTP.

mod helpers;

mod auth;
mod health;
mod orders;
mod products;
mod profile;
