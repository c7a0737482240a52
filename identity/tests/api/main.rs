//! identity's HTTP contract, against the real router on an ephemeral port, on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL.

mod helpers;

mod account;
mod accounts;
mod discovery;
mod exchange;
mod startup;
