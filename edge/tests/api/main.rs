//! edge's HTTP behaviour against fake upstreams: a fake identity that records what it was sent and
//! a fake core-api that echoes what it received. The real cross-service tests live in `stack/`.

mod abuse;
mod account;
mod auth;
mod health;
mod helpers;
mod pages;
mod proxy;
