//! One request, observed: its request id (tower-http's request-id layers: made when absent,
//! returned as `X-Request-Id`), its W3C trace context, the `request` span every log line of the
//! request sits in, one access line at `info` when it is answered, and the HTTP metrics. The
//! span carries the service's name, so a line says which service wrote it even when `stack`
//! runs all three in one process. It logs the route template, never the raw path or the query,
//! and no header but the request id.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::field::Empty;
use tracing::Instrument;

use crate::metrics::{HttpMetrics, Metrics};
use crate::trace_context::{TraceContext, TRACEPARENT};

/// `X-Request-Id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT_HEADER: HeaderName = HeaderName::from_static(TRACEPARENT);

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

tokio::task_local! {
    /// The request being served by this task, for its outgoing calls.
    static CURRENT: RequestContext;
}

/// The request id and trace context of the request being served.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The `X-Request-Id` (made here or kept from a trusted caller).
    pub request_id: HeaderValue,
    /// This hop's place in the trace.
    pub trace: TraceContext,
}

impl RequestContext {
    /// The context of the request this task serves, if it is serving one.
    pub fn current() -> Option<RequestContext> {
        CURRENT.try_with(RequestContext::clone).ok()
    }

    /// The headers an outgoing call of this request carries: the same request id, and a
    /// `traceparent` with a new span id for the hop.
    pub fn outgoing_headers(&self) -> [(HeaderName, HeaderValue); 2] {
        let traceparent = HeaderValue::try_from(self.trace.child_traceparent())
            .expect("invariant: a traceparent is printable ASCII");
        [
            (X_REQUEST_ID, self.request_id.clone()),
            (TRACEPARENT_HEADER, traceparent),
        ]
    }
}

/// Records the caller into the current request's span (and so into its access line).
pub fn record_caller(user_id: &str, session_id: &str) {
    let span = tracing::Span::current();
    span.record("user_id", user_id);
    span.record("session_id", session_id);
}

type Judge = Arc<dyn Fn(&Request) -> bool + Send + Sync>;
type ClientIp = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// What a service observes of its requests; [`Observe::layer`] makes the tower layer.
#[derive(Clone)]
pub struct Observe {
    service: &'static str,
    http: HttpMetrics,
    trust_incoming: Judge,
    client_ip: Option<ClientIp>,
}

impl Observe {
    /// Observes `service`'s requests into `metrics`, keeping a caller's `X-Request-Id` and
    /// `traceparent` (internal services: their only caller is edge).
    pub fn new(service: &'static str, metrics: &Metrics) -> Observe {
        Observe {
            service,
            http: metrics.http().clone(),
            trust_incoming: Arc::new(|_| true),
            client_ip: None,
        }
    }

    /// Keeps a caller's `X-Request-Id` and `traceparent` only when `trusted` says so (edge: a
    /// trusted proxy); otherwise a new id and a new trace are made.
    pub fn trust_incoming_when(
        mut self,
        trusted: impl Fn(&Request) -> bool + Send + Sync + 'static,
    ) -> Observe {
        self.trust_incoming = Arc::new(trusted);
        self
    }

    /// Logs the client's address, as `client_ip` says it is.
    pub fn client_ip(
        mut self,
        client_ip: impl Fn(&Request) -> Option<String> + Send + Sync + 'static,
    ) -> Observe {
        self.client_ip = Some(Arc::new(client_ip));
        self
    }

    /// The layer: admit or drop the incoming ids, make a missing request id, return it on the
    /// answer, then span, access line and metrics.
    pub fn layer(self) -> ObserveLayers {
        ServiceBuilder::new()
            .layer(AdmitLayer {
                trusted: self.trust_incoming.clone(),
            })
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(AccessLayer { observe: self })
    }
}

impl fmt::Debug for Observe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The layers [`Observe::layer`] stacks, outermost first.
pub type ObserveLayers = ServiceBuilder<
    Stack<
        AccessLayer,
        Stack<
            PropagateRequestIdLayer,
            Stack<SetRequestIdLayer<MakeRequestUuid>, Stack<AdmitLayer, Identity>>,
        >,
    >,
>;

/// Whether an incoming request id is one to keep: short, and only characters that cannot break a
/// log line or a header.
pub fn is_sane_request_id(id: &HeaderValue) -> bool {
    (1..=64).contains(&id.len())
        && id
            .as_bytes()
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Drops an incoming `X-Request-Id` and `traceparent` unless the caller is trusted and the id
/// is sane.
#[derive(Clone)]
pub struct AdmitLayer {
    trusted: Judge,
}

impl<S> Layer<S> for AdmitLayer {
    type Service = Admit<S>;

    fn layer(&self, inner: S) -> Admit<S> {
        Admit {
            inner,
            trusted: self.trusted.clone(),
        }
    }
}

/// The service of [`AdmitLayer`].
#[derive(Clone)]
pub struct Admit<S> {
    inner: S,
    trusted: Judge,
}

impl<S: Service<Request>> Service<Request> for Admit<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> S::Future {
        let trusted = (self.trusted)(&request);
        let headers = request.headers_mut();
        if !trusted || !headers.get(X_REQUEST_ID).is_some_and(is_sane_request_id) {
            headers.remove(X_REQUEST_ID);
        }
        if !trusted {
            headers.remove(TRACEPARENT_HEADER);
        }
        self.inner.call(request)
    }
}

/// Span, access line and metrics around each request.
#[derive(Clone)]
pub struct AccessLayer {
    observe: Observe,
}

impl<S> Layer<S> for AccessLayer {
    type Service = Access<S>;

    fn layer(&self, inner: S) -> Access<S> {
        Access {
            inner,
            observe: self.observe.clone(),
        }
    }
}

/// The service of [`AccessLayer`].
#[derive(Clone)]
pub struct Access<S> {
    inner: S,
    observe: Observe,
}

impl<S> Service<Request> for Access<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        let request_id = request
            .headers()
            .get(X_REQUEST_ID)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("-"));
        let trace = TraceContext::continue_or_start(
            request
                .headers()
                .get(TRACEPARENT_HEADER)
                .map(HeaderValue::as_bytes),
        );
        let span = tracing::info_span!(
            "request",
            service = self.observe.service,
            method = method.as_str(),
            route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
            request_id = request_id.to_str().unwrap_or("-"),
            trace_id = %trace.trace_id(),
            span_id = %trace.span_id(),
            parent_span_id = Empty,
            client_ip = Empty,
            user_id = Empty,
            session_id = Empty,
        );
        if let Some(parent) = trace.parent_id() {
            span.record("parent_span_id", parent);
        }
        if let Some(client_ip) = self
            .observe
            .client_ip
            .as_ref()
            .and_then(|client_ip| client_ip(&request))
        {
            span.record("client_ip", client_ip);
        }
        let context = RequestContext { request_id, trace };
        request.extensions_mut().insert(context.clone());
        let answer = CURRENT.scope(context, self.inner.call(request).instrument(span.clone()));
        let http = self.observe.http.clone();
        Box::pin(async move {
            let Ok(response) = answer.await;
            let elapsed = started.elapsed();
            let status = response.status().as_u16();
            let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            http.observe(route, method.as_str(), status, elapsed.as_secs_f64());
            let duration_ms = (elapsed.as_micros() as f64) / 1000.0;
            tracing::info!(target: "access", parent: &span, status, duration_ms, "request");
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(is_sane_request_id(&HeaderValue::from_static("abc-123_x.y")));
        for bad in ["", "has space", "a;b", "{\"json\":1}"] {
            assert!(
                !is_sane_request_id(&HeaderValue::from_str(bad).unwrap()),
                "{bad:?}"
            );
        }
        assert!(!is_sane_request_id(
            &HeaderValue::from_str(&"a".repeat(65)).unwrap()
        ));
    }

    #[test]
    fn outgoing_calls_carry_the_id_and_a_new_hop_of_the_trace() {
        let context = RequestContext {
            request_id: HeaderValue::from_static("rid"),
            trace: TraceContext::start(),
        };
        let [(id_name, id), (trace_name, traceparent)] = context.outgoing_headers();
        assert_eq!(
            (id_name.as_str(), id.to_str().unwrap()),
            ("x-request-id", "rid")
        );
        assert_eq!(trace_name.as_str(), "traceparent");
        let hop = TraceContext::continue_or_start(Some(traceparent.as_bytes()));
        assert_eq!(hop.trace_id(), context.trace.trace_id());
        assert_ne!(
            hop.parent_id(),
            Some(context.trace.span_id()),
            "a hop has a span id of its own"
        );
    }
}
