//! W3C Trace Context (`traceparent`, version 00): the trace id shared by every hop of one call
//! and a span id per hop. It is parsed and written here by hand because Gatehouse exports no
//! spans (no OpenTelemetry SDK): only the two ids travel and reach the logs. Ids come from a
//! CSPRNG (rand's thread-local generator, seeded by the operating system) — no system call per
//! request — so they reveal nothing and cannot be guessed.

use std::fmt;

use rand::RngCore;

/// The header's name.
pub const TRACEPARENT: &str = "traceparent";

/// One hop's place in a trace.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    /// The caller's span, when the trace was continued.
    parent_id: Option<[u8; 8]>,
    sampled: bool,
}

impl TraceContext {
    /// A new trace, with this hop as its root span.
    pub fn start() -> TraceContext {
        let mut trace_id = [0u8; 16];
        while trace_id == [0; 16] {
            rand::thread_rng().fill_bytes(&mut trace_id);
        }
        TraceContext {
            trace_id,
            span_id: new_span_id(),
            parent_id: None,
            sampled: true,
        }
    }

    /// Continues the trace an incoming `traceparent` names (a new span whose parent is the
    /// caller's), or starts one when the header is absent or malformed.
    pub fn continue_or_start(traceparent: Option<&[u8]>) -> TraceContext {
        match traceparent.and_then(parse) {
            Some((trace_id, parent_id, sampled)) => TraceContext {
                trace_id,
                span_id: new_span_id(),
                parent_id: Some(parent_id),
                sampled,
            },
            None => TraceContext::start(),
        }
    }

    /// The `traceparent` to send on an outgoing call: same trace, a new span id for the hop.
    pub fn child_traceparent(&self) -> String {
        let hop = TraceContext {
            span_id: new_span_id(),
            parent_id: Some(self.span_id),
            ..*self
        };
        hop.traceparent()
    }

    /// This span as a `traceparent` value.
    pub fn traceparent(&self) -> String {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, &self.trace_id);
        out.push('-');
        push_hex(&mut out, &self.span_id);
        out.push_str(if self.sampled { "-01" } else { "-00" });
        out
    }

    /// The trace id: 32 lower-case hex digits.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// This hop's span id: 16 lower-case hex digits.
    pub fn span_id(&self) -> String {
        hex(&self.span_id)
    }

    /// The caller's span id, when the trace was continued.
    pub fn parent_id(&self) -> Option<String> {
        self.parent_id.as_ref().map(|id| hex(id))
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

fn new_span_id() -> [u8; 8] {
    let mut span_id = [0u8; 8];
    while span_id == [0; 8] {
        rand::thread_rng().fill_bytes(&mut span_id);
    }
    span_id
}

/// `00-<trace-id>-<parent-id>-<flags>` → (trace id, parent id, sampled). Version 00 must be
/// exactly 55 bytes; a later version may append fields (W3C §3.2.4); all-zero ids, version ff
/// and upper-case hex are invalid.
fn parse(value: &[u8]) -> Option<([u8; 16], [u8; 8], bool)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let version = decode::<1>(text.get(0..2)?)?[0];
    if version == 0xff || (version == 0 && text.len() != 55) || (version != 0 && text.len() < 55) {
        return None;
    }
    let dashes = [2, 35, 52];
    if dashes.iter().any(|&i| text.as_bytes()[i] != b'-')
        || (text.len() > 55 && text.as_bytes()[55] != b'-')
    {
        return None;
    }
    let trace_id = decode::<16>(&text[3..35])?;
    let parent_id = decode::<8>(&text[36..52])?;
    let flags = decode::<1>(&text[53..55])?[0];
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some((trace_id, parent_id, flags & 1 == 1))
}

/// Exactly `2 * N` lower-case hex digits.
fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Lower-case hex, two digits a byte (on every request's path: no formatting machinery).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn an_incoming_traceparent_is_continued_with_a_new_span() {
        let context = TraceContext::continue_or_start(Some(SAMPLE.as_bytes()));
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.parent_id().as_deref(), Some("00f067aa0ba902b7"));
        assert_ne!(context.span_id(), "00f067aa0ba902b7");
        assert_eq!(context.span_id().len(), 16);
    }

    #[test]
    fn each_outgoing_hop_gets_its_own_span_in_the_same_trace() {
        let context = TraceContext::start();
        let (first, second) = (context.child_traceparent(), context.child_traceparent());
        assert_ne!(first, second);
        for hop in [&first, &second] {
            let next = TraceContext::continue_or_start(Some(hop.as_bytes()));
            assert_eq!(next.trace_id(), context.trace_id());
            assert_eq!(hop.len(), 55);
        }
        assert!(context
            .trace_id()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn malformed_values_start_a_new_trace() {
        let bad = [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ];
        for value in bad {
            let context = TraceContext::continue_or_start(Some(value.as_bytes()));
            assert_eq!(
                context.parent_id(),
                None,
                "{value:?} should start a new trace"
            );
        }
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert!(TraceContext::continue_or_start(Some(future.as_bytes()))
            .parent_id()
            .is_some());
    }
}
