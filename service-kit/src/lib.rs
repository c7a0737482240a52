//! Plumbing shared by the Gatehouse services: database connection and migrations, duration
//! parsing for configuration, the clock, the wire format of times, serving, and observability
//! (logs, request ids and trace context, metrics).
//! It holds no business rules and never reads the environment itself.

pub mod cli;
pub mod db;
pub mod duration;
pub mod error_body;
pub mod healthcheck;
pub mod metrics;
pub mod observe;
pub mod serve;
pub mod telemetry;
pub mod timefmt;
pub mod trace_context;

/// The clock lives in its own crate so `shared-claims` can use it without the database drivers.
pub use clock::{self, Clock};
pub use duration::parse_duration;
pub use error_body::ErrorBody;
