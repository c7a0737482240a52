//! Cross-service tests: the real edge, identity and core-api on ephemeral ports, real HTTP
//! between them, on SQLite and (with `TEST_DATABASE_URL`) on PostgreSQL.

mod account;
mod attacks;
mod browser;
mod cluster;
mod compose;
mod core_direct;
mod durable_mail;
mod edge_abuse;
mod failures;
mod isolation;
mod kubernetes;
mod lifecycle;
mod mail;
mod observability;
mod outage;
mod roles;
mod rotation;
mod sessions;
mod social;
mod spine;
mod support;
mod tokens;
