//! identity's HTTP contract, against the real router on an ephemeral port, on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL.

mod helpers;

// `crate::on_both_stores!` in every module.
use test_support::on_both_stores;

mod account;
mod discovery;
mod exchange;
mod sign_in;
mod startup;
