//! The request path's hooks for trace context. With the `otel` feature they are [`crate::otel`]'s; without it
//! they are empty and compile to nothing, so a request pays nothing for a feature it does not use.

#[cfg(feature = "otel")]
pub(crate) use crate::otel::{Outgoing, RequestFacts};

#[cfg(not(feature = "otel"))]
pub(crate) use off::{Outgoing, RequestFacts};

#[cfg(not(feature = "otel"))]
mod off {
    use serde_json::Value;

    // Filled in by the request path either way; only the `otel` feature reads it.
    #[allow(dead_code)]
    pub(crate) struct RequestFacts<'a> {
        pub method: &'a str,
        pub id: &'a mcp_protocol::RequestId,
        pub version: mcp_protocol::ProtocolVersion,
        pub options: &'a crate::ClientOptions,
        pub http: bool,
    }

    pub(crate) struct Outgoing;

    impl Outgoing {
        #[inline(always)]
        pub(crate) fn start(
            facts: RequestFacts<'_>,
            params: &mut Option<Value>,
            headers: &mut Vec<(String, String)>,
        ) -> Self {
            let _ = (facts, params, headers);
            Self
        }

        #[inline(always)]
        pub(crate) fn run<F>(&self, fut: F) -> F {
            fut
        }

        #[inline(always)]
        pub(crate) fn finish(&self, r: &Result<Value, mcp_rpc::RpcError>) {
            let _ = r;
        }
    }
}
