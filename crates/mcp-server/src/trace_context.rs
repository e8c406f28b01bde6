//! What the request path needs of trace context, whether or not the `otel` feature is on. Without it these are
//! empty types and functions that compile to nothing, so a request pays nothing for the feature it does not use.

use mcp_protocol::Request;

/// The W3C trace headers of the HTTP request that carried a message: the fallback when its `_meta` has no
/// `traceparent` (a gateway or an HTTP client instrumented at the HTTP level sets only the header). Empty, and
/// zero-sized, unless both `otel` and `http` are on.
#[derive(Clone, Default)]
pub(crate) struct TraceHeaders {
    /// Boxed: most requests carry no trace header, and then nothing is allocated.
    #[cfg(all(feature = "otel", feature = "http"))]
    pub(crate) values: Option<Box<HeaderValues>>,
}

/// `traceparent`, `tracestate` and `baggage`, as they came.
#[cfg(all(feature = "otel", feature = "http"))]
#[derive(Clone, Default)]
pub(crate) struct HeaderValues {
    pub(crate) traceparent: Option<http::HeaderValue>,
    pub(crate) tracestate: Option<http::HeaderValue>,
    pub(crate) baggage: Option<http::HeaderValue>,
}

impl TraceHeaders {
    /// The trace headers of `h`.
    #[cfg(feature = "http")]
    #[inline]
    pub(crate) fn from_headers(h: &http::HeaderMap) -> Self {
        #[cfg(feature = "otel")]
        {
            let get = |name: &str| h.get(name).cloned();
            let traceparent = get(mcp_protocol::meta::TRACEPARENT);
            if traceparent.is_none() {
                // Trace state and baggage mean nothing without the parent they belong to.
                return Self::default();
            }
            Self {
                values: Some(Box::new(HeaderValues {
                    traceparent,
                    tracestate: get(mcp_protocol::meta::TRACESTATE),
                    baggage: get(mcp_protocol::meta::BAGGAGE),
                })),
            }
        }
        #[cfg(not(feature = "otel"))]
        {
            let _ = h;
            Self {}
        }
    }
}

/// Make `span` a child of the caller's span, read from the request's `_meta` (or, failing that, from
/// `headers`), when the `otel` feature is on and the span is recorded. See [`crate::otel`] for the rules.
/// Takes the request rather than its `_meta`, so that without the feature nothing is looked up.
#[inline]
pub(crate) fn adopt(span: &tracing::Span, req: &Request, headers: &TraceHeaders) {
    #[cfg(feature = "otel")]
    crate::otel::adopt(span, req.meta(), headers);
    #[cfg(not(feature = "otel"))]
    let _ = (span, req, headers);
}
