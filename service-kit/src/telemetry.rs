//! Logging setup for the binaries, on stderr, filtered by `RUST_LOG` (default `info`):
//! human-readable lines (`LOG_FORMAT=text`, the default) or one JSON object per line
//! (`LOG_FORMAT=json`) with `time` (RFC 3339, UTC), `level`, `service`, `message` and every
//! field of the event and of its spans at the top level. `service` comes from the nearest span that names one (each request's span
//! does), so `stack`'s three services in one process still say which one wrote a line.

use std::fmt;
use std::io::Write as _;
use std::str::FromStr;

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::Clock;

/// `LOG_FORMAT`: how log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("`{text}` is neither `text` nor `json`")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// Installs the global subscriber once, writing text lines; later calls are harmless no-ops.
pub fn init() -> LogGuard {
    init_for("gatehouse", LogFormat::Text)
}

/// Keeps the log writer's thread. Dropping it writes out every line still queued: hold it for
/// the life of the process, and drop it before `std::process::exit`.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Lines buffered before a write to stderr; the writer thread flushes whenever it has drained
/// its queue, so a line waits only while more lines are coming.
const LOG_BUFFER_BYTES: usize = 64 * 1024;
/// Lines the queue holds (tracing-appender's default of 128 k lines costs 4 MB of memory at
/// start, in every service; 8 k lines are a quarter of a second of access lines at full load).
const LOG_QUEUE_LINES: usize = 8 * 1024;

/// Installs the global subscriber once (later calls, from tests or `stack`, are no-ops).
/// `service` names lines written outside any service's span (start-up, `stack` itself).
///
/// Lines are formatted where they happen and written to stderr by a thread of their own, in
/// batches: a request never waits on a `write(2)`. The queue is not lossy — if stderr stalls
/// long enough to fill it (8 k lines), callers wait rather than lose lines.
pub fn init_for(service: &'static str, format: LogFormat) -> LogGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::with_capacity(
            LOG_BUFFER_BYTES,
            std::io::stderr(),
        ));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Json => registry.with(JsonLayer::new(service, writer)).try_init(),
    };
    LogGuard {
        _writer: installed.ok().map(|()| guard),
    }
}

/// A span naming the service its lines come from, for work done outside any request (start-up,
/// background tasks): `Server::bind(..).instrument(service_span("identity"))`.
pub fn service_span(service: &'static str) -> tracing::Span {
    tracing::info_span!("service", service)
}

/// Writes each event as one JSON object on one line.
pub struct JsonLayer<W> {
    default_service: &'static str,
    writer: W,
}

impl<W> JsonLayer<W> {
    /// Lines written outside any span naming a service say `default_service`.
    pub fn new(default_service: &'static str, writer: W) -> Self {
        JsonLayer {
            default_service,
            writer,
        }
    }
}

/// A span's fields, kept as JSON values.
#[derive(Default)]
struct SpanFields(Vec<(&'static str, Value)>);

impl SpanFields {
    fn set(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(key, _)| *key == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for SpanFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), Value::String(value.to_string()));
    }
}

/// An event's fields: `message` apart, the others into the line's map.
struct EventFields<'a> {
    message: Option<String>,
    fields: &'a mut Map<String, Value>,
}

impl EventFields<'_> {
    fn set(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
        } else {
            // `log` records arrive with their metadata as `log.*` fields; the line has its own.
            if field.name().starts_with("log.") {
                return;
            }
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for EventFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field, Value::String(value.to_string()));
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        let mut service = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(span_fields) = extensions.get::<SpanFields>() else {
                    continue;
                };
                for (name, value) in &span_fields.0 {
                    match (*name, value) {
                        ("service", Value::String(name)) => service = Some(name.clone()),
                        _ => {
                            fields.insert((*name).to_owned(), value.clone());
                        }
                    }
                }
            }
        }
        let mut visitor = EventFields {
            message: None,
            fields: &mut fields,
        };
        event.record(&mut visitor);
        let message = visitor.message.unwrap_or_default();

        let time = Clock::system().now().format(&Rfc3339).unwrap_or_default();
        let head = [
            ("time", Value::String(time)),
            (
                "level",
                event
                    .metadata()
                    .level()
                    .as_str()
                    .to_ascii_lowercase()
                    .into(),
            ),
            (
                "service",
                service
                    .unwrap_or_else(|| self.default_service.to_owned())
                    .into(),
            ),
            ("message", message.into()),
        ];
        let mut out = Vec::with_capacity(256);
        write_line(&mut out, &head, &fields);
        let _ = self
            .writer
            .make_writer_for(event.metadata())
            .write_all(&out);
    }
}

/// `{` the head fields in order, then the others (a head name among them is dropped) `}\n`.
fn write_line(out: &mut Vec<u8>, head: &[(&str, Value)], fields: &Map<String, Value>) {
    out.push(b'{');
    let head = head.iter().map(|(name, value)| (*name, value));
    let rest = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value))
        .filter(|(name, _)| !matches!(*name, "time" | "level" | "service" | "message"));
    for (index, (name, value)) in head.chain(rest).enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, value);
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn lines_of(run: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::registry().with(JsonLayer::new("stack", captured.clone()));
        tracing::subscriber::with_default(subscriber, run);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn each_line_is_one_object_with_the_fields_at_the_top_level() {
        let lines = lines_of(|| {
            let span = tracing::info_span!(
                "request",
                service = "identity",
                route = "/v1/token",
                user_id = tracing::field::Empty
            );
            span.record("user_id", "u-1");
            let _entered = span.enter();
            tracing::info!(status = 200u16, duration_ms = 1.5, "request");
        });
        let [line] = &lines[..] else {
            panic!("{lines:?}")
        };
        assert_eq!(line["service"], "identity");
        assert_eq!(line["level"], "info");
        assert_eq!(line["message"], "request");
        assert_eq!(line["route"], "/v1/token");
        assert_eq!(line["user_id"], "u-1");
        assert_eq!(line["status"], 200);
        assert_eq!(line["duration_ms"], 1.5);
        let time = line["time"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(time, &Rfc3339).is_ok() && time.ends_with('Z'),
            "{time}"
        );
    }

    #[test]
    fn the_service_comes_from_the_span_not_the_process() {
        let lines = lines_of(|| {
            tracing::warn!("outside");
            tracing::info_span!("request", service = "edge").in_scope(|| tracing::info!("inside"));
            tracing::info_span!("request", service = "core-api")
                .in_scope(|| tracing::info!("inside"));
        });
        let services: Vec<&str> = lines
            .iter()
            .map(|line| line["service"].as_str().unwrap())
            .collect();
        assert_eq!(services, ["stack", "edge", "core-api"]);
        assert_eq!(lines[0]["level"], "warn");
    }

    #[test]
    fn a_field_cannot_break_the_line_or_replace_the_head() {
        let lines = lines_of(|| {
            tracing::info!(
                user_agent = "a\"}\n{\"level\":\"error",
                level = "forged",
                "hi"
            )
        });
        let [line] = &lines[..] else {
            panic!("{lines:?}")
        };
        assert_eq!(line["level"], "info");
        assert_eq!(line["user_agent"], "a\"}\n{\"level\":\"error");
    }

    #[test]
    fn log_formats_parse() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(" Text ".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
