//! Logging setup for the binaries, on stderr, filtered by `RUST_LOG` (default `info`):
//! human-readable lines (`LOG_FORMAT=text`, the default) or one JSON object per line
//! (`LOG_FORMAT=json`) with `time` (RFC 3339, UTC), `level`, `service`, `message` and every
//! field of the event and of its spans at the top level. `service` comes from the nearest span that names one (each request's span
//! does), so `stack`'s three services in one process still say which one wrote a line.

use std::cell::RefCell;
use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::ops::Range;
use std::str::FromStr;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::Clock;

pub use writer::{batch_writer, BatchGuard, BatchWriter};

pub mod writer;

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
    _writer: Option<BatchGuard>,
}

/// Installs the global subscriber once (later calls, from tests or `stack`, are no-ops).
/// `service` names lines written outside any service's span (start-up, `stack` itself).
///
/// Lines are formatted where they happen and written to stderr in batches by a thread of their
/// own ([`writer`]): a request never waits on a `write(2)`, and no line is dropped.
pub fn init_for(service: &'static str, format: LogFormat) -> LogGuard {
    match batch_writer(std::io::stderr()) {
        Ok((writer, guard)) => LogGuard {
            _writer: install(service, format, writer).then_some(guard),
        },
        // No thread for the writer: lines go straight to stderr.
        Err(_) => {
            install(service, format, std::io::stderr);
            LogGuard { _writer: None }
        }
    }
}

/// Installs the global subscriber writing to `writer`; `false` when one was already installed.
fn install<W>(service: &'static str, format: LogFormat, writer: W) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    // Colours for a terminal, never escape codes in a file or a collector.
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Json => registry.with(JsonLayer::new(service, writer)).try_init(),
    }
    .is_ok()
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

/// A span's fields, encoded as JSON once, when they are recorded: an access line then only copies
/// bytes. `encoded` holds the values back to back; `members` names each one and where it sits.
struct SpanFields {
    encoded: Vec<u8>,
    members: Vec<(&'static str, Range<usize>)>,
}

impl Default for SpanFields {
    /// Room for a request's span (about a dozen fields, 300 bytes) without growing.
    fn default() -> SpanFields {
        SpanFields {
            encoded: Vec::with_capacity(512),
            members: Vec::with_capacity(12),
        }
    }
}

impl SpanFields {
    fn set(&mut self, field: &Field, value: impl Encode) {
        let start = self.encoded.len();
        value.encode(&mut self.encoded);
        let range = start..self.encoded.len();
        match self
            .members
            .iter_mut()
            .find(|(name, _)| *name == field.name())
        {
            // Recorded again: the old bytes stay unused until the span closes.
            Some(member) => member.1 = range,
            None => self.members.push((field.name(), range)),
        }
    }

    fn get(&self, range: &Range<usize>) -> &[u8] {
        self.encoded.get(range.clone()).unwrap_or(b"null")
    }
}

impl Visit for SpanFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, DebugValue(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field, DisplayValue(value));
    }
}

/// A value written as JSON.
trait Encode {
    fn encode(self, out: &mut Vec<u8>);
}

impl Encode for &str {
    fn encode(self, out: &mut Vec<u8>) {
        out.push(b'"');
        escape_into(out, self);
        out.push(b'"');
    }
}

impl Encode for i64 {
    fn encode(self, out: &mut Vec<u8>) {
        let _ = write!(out, "{self}");
    }
}

impl Encode for u64 {
    fn encode(self, out: &mut Vec<u8>) {
        let _ = write!(out, "{self}");
    }
}

impl Encode for f64 {
    fn encode(self, out: &mut Vec<u8>) {
        // serde_json writes the shortest form that reads back the same, and `null` for NaN and ±∞.
        let _ = serde_json::to_writer(out, &self);
    }
}

impl Encode for bool {
    fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(if self { b"true" } else { b"false" });
    }
}

/// A `Debug` value (what `%` and `?` fields and `format_args!` messages are), as a JSON string.
struct DebugValue<'a>(&'a dyn fmt::Debug);

impl Encode for DebugValue<'_> {
    fn encode(self, out: &mut Vec<u8>) {
        out.push(b'"');
        let _ = fmt::Write::write_fmt(&mut Escaping(out), format_args!("{:?}", self.0));
        out.push(b'"');
    }
}

/// A `Display` value (an error), as a JSON string.
struct DisplayValue<'a>(&'a dyn fmt::Display);

impl Encode for DisplayValue<'_> {
    fn encode(self, out: &mut Vec<u8>) {
        out.push(b'"');
        let _ = fmt::Write::write_fmt(&mut Escaping(out), format_args!("{}", self.0));
        out.push(b'"');
    }
}

/// Formats into a JSON string's contents, escaping as it goes (no intermediate `String`).
struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape_into(self.0, text);
        Ok(())
    }
}

/// Appends `text` as the contents of a JSON string: `"`, `\` and control characters escaped.
fn escape_into(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = text.as_bytes();
    // Most text has nothing to escape: find the next byte that needs it, copy the run before it.
    while let Some(at) = rest
        .iter()
        .position(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
    {
        out.extend_from_slice(&rest[..at]);
        let byte = rest[at];
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
}

/// Names a line's head holds; a field of the same name is dropped rather than repeated.
const HEAD: [&str; 4] = ["time", "level", "service", "message"];

/// One line being put together: the message, the service and the other members apart, so the
/// head comes first whatever order the fields arrive in.
#[derive(Default)]
struct Line {
    message: Vec<u8>,
    service: Vec<u8>,
    /// `,"name":value` for every field but the head's.
    members: Vec<u8>,
    /// Names already in `members`: the event's own fields, then the nearest span's, win.
    names: Vec<&'static str>,
    out: Vec<u8>,
}

impl Line {
    fn clear(&mut self) {
        self.message.clear();
        self.service.clear();
        self.members.clear();
        self.names.clear();
        self.out.clear();
    }

    /// Adds a member unless its name is taken; `value` writes the JSON value.
    fn member(&mut self, name: &'static str, value: impl FnOnce(&mut Vec<u8>)) {
        if HEAD.contains(&name) || self.names.contains(&name) {
            return;
        }
        self.names.push(name);
        self.members.extend_from_slice(b",\"");
        escape_into(&mut self.members, name);
        self.members.extend_from_slice(b"\":");
        value(&mut self.members);
    }

    /// `{"time","level","service","message", the members}` and a newline, into `out`.
    fn finish(&mut self, time: OffsetDateTime, level: &Level, default_service: &str) {
        self.out.extend_from_slice(b"{\"time\":\"");
        let _ = time.format_into(&mut self.out, &Rfc3339);
        self.out.extend_from_slice(b"\",\"level\":\"");
        self.out.extend_from_slice(match *level {
            Level::TRACE => b"trace",
            Level::DEBUG => b"debug",
            Level::INFO => b"info",
            Level::WARN => b"warn",
            Level::ERROR => b"error",
        });
        self.out.extend_from_slice(b"\",\"service\":");
        if self.service.is_empty() {
            default_service.encode(&mut self.out);
        } else {
            self.out.extend_from_slice(&self.service);
        }
        self.out.extend_from_slice(b",\"message\":");
        if self.message.is_empty() {
            self.out.extend_from_slice(b"\"\"");
        } else {
            self.out.extend_from_slice(&self.message);
        }
        self.out.extend_from_slice(&self.members);
        self.out.extend_from_slice(b"}\n");
    }
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            DebugValue(value).encode(&mut self.message);
        } else if !field.name().starts_with("log.") {
            // `log` records arrive with their metadata as `log.*` fields; the line has its own.
            self.member(field.name(), |out| DebugValue(value).encode(out));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.encode(&mut self.message);
        } else {
            self.member(field.name(), |out| value.encode(out));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field.name(), |out| value.encode(out));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field.name(), |out| value.encode(out));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field.name(), |out| value.encode(out));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field.name(), |out| value.encode(out));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field.name(), |out| DisplayValue(value).encode(out));
    }
}

thread_local! {
    /// Each thread's line buffers, reused from one event to the next.
    static LINE: RefCell<Line> = RefCell::new(Line::default());
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
        let write = |line: &mut Line| {
            line.clear();
            event.record(line);
            // Nearest span first: its fields win over its parents'.
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    let extensions = span.extensions();
                    let Some(fields) = extensions.get::<SpanFields>() else {
                        continue;
                    };
                    for (name, range) in &fields.members {
                        let value = fields.get(range);
                        if *name == "service" {
                            if line.service.is_empty() && value.first() == Some(&b'"') {
                                line.service.extend_from_slice(value);
                            }
                        } else {
                            line.member(name, |out| out.extend_from_slice(value));
                        }
                    }
                }
            }
            line.finish(
                Clock::system().now(),
                event.metadata().level(),
                self.default_service,
            );
            let _ = self
                .writer
                .make_writer_for(event.metadata())
                .write_all(&line.out);
        };
        // A `Debug` impl that logs while its line is being written gets buffers of its own.
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => write(&mut line),
            Err(_) => write(&mut Line::default()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
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

    fn text_of(run: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::registry().with(JsonLayer::new("stack", captured.clone()));
        tracing::subscriber::with_default(subscriber, run);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn lines_of(run: impl FnOnce()) -> Vec<Value> {
        text_of(run)
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
    fn any_text_reads_back_as_it_was_written() {
        let nasty =
            "quote \" backslash \\ nul \u{0} bell \u{7} tab\t cr\r del \u{7f} é ✓ 🦀 \u{2028}";
        let error = std::io::Error::other(nasty);
        let lines = lines_of(|| {
            let span = tracing::info_span!("request", shown = %nasty);
            span.in_scope(|| {
                tracing::info!(text = nasty, debugged = ?nasty, error = &error as &dyn std::error::Error, "{nasty}")
            });
        });
        let [line] = &lines[..] else {
            panic!("{lines:?}")
        };
        assert_eq!(line["message"], nasty);
        assert_eq!(line["text"], nasty);
        assert_eq!(line["shown"], nasty);
        assert_eq!(line["error"], nasty);
        assert_eq!(line["debugged"], format!("{nasty:?}"));
    }

    #[test]
    fn the_event_and_then_the_nearest_span_win_a_name() {
        let text = text_of(|| {
            let outer =
                tracing::info_span!("outer", service = "edge", route = "outer", kept = 1u64);
            let _outer = outer.enter();
            let inner = tracing::info_span!(
                "inner",
                service = "identity",
                route = "inner",
                user_id = tracing::field::Empty
            );
            let _inner = inner.enter();
            inner.record("user_id", "u-1");
            inner.record("user_id", "u-2");
            tracing::info!(kept = 2u64, ratio = f64::NAN, ok = true, "x");
        });
        for name in ["service", "route", "kept", "user_id"] {
            assert_eq!(
                text.matches(&format!("\"{name}\":")).count(),
                1,
                "{name}: {text}"
            );
        }
        let line: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["service"], "identity");
        assert_eq!(line["route"], "inner");
        assert_eq!(line["kept"], 2);
        assert_eq!(line["user_id"], "u-2");
        assert_eq!(line["ratio"], Value::Null);
        assert_eq!(line["ok"], true);
    }

    #[test]
    fn log_formats_parse() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(" Text ".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
