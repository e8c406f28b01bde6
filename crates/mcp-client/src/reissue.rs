//! Which 2026-07-28 requests the client sends again when their reply stream breaks.
//!
//! On the modern era a Streamable HTTP reply stream cannot be resumed, and closing it is a cancellation. When
//! it breaks before the reply (a restart, a proxy timeout, a reset connection) the server may or may not have
//! run the request. Sending it again with a new id is only right when running it twice does no harm; every
//! other request fails with [`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown), and work that
//! must survive a broken stream belongs to the tasks extension.

use std::fmt;
use std::sync::Arc;

use mcp_protocol::types::{methods, ToolAnnotations};
use serde_json::Value;

/// A request whose reply stream may break, as a [`ReissuePolicy`] sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ReissueRequest<'a> {
    /// The JSON-RPC method.
    pub method: &'a str,
    /// The request's params as sent (with the modern `_meta`).
    pub params: Option<&'a Value>,
    /// For `tools/call`: the annotations of the named tool, as the server's `tools/list` described it to
    /// this client. `None` for other methods, for a tool the client has never seen listed, and for a listed
    /// tool without annotations.
    pub tool_annotations: Option<&'a ToolAnnotations>,
}

impl<'a> ReissueRequest<'a> {
    /// The tool a `tools/call` names (`params.name`).
    pub fn tool_name(&self) -> Option<&'a str> {
        if self.method != methods::TOOLS_CALL {
            return None;
        }
        self.params?.get("name")?.as_str()
    }

    /// Whether repeating the request is harmless, by the default rule ([`ReissuePolicy::Safe`]):
    /// `subscriptions/listen`, the lists (`tools/list`, `resources/list`, `resources/templates/list`,
    /// `prompts/list`), the reads (`resources/read`, `prompts/get`), `server/discover`, `ping`,
    /// `completion/complete`, and `tools/call` of a listed tool annotated `readOnlyHint: true` or
    /// `idempotentHint: true`. Everything else may have effects that must not happen twice.
    pub fn is_safe(&self) -> bool {
        match self.method {
            methods::SUBSCRIPTIONS_LISTEN
            | methods::TOOLS_LIST
            | methods::RESOURCES_LIST
            | methods::RESOURCES_TEMPLATES_LIST
            | methods::PROMPTS_LIST
            | methods::RESOURCES_READ
            | methods::PROMPTS_GET
            | methods::DISCOVER
            | methods::PING
            | methods::COMPLETION_COMPLETE
            // Reading a task's status, and cancelling it, change nothing when repeated.
            | methods::TASKS_GET
            | methods::TASKS_CANCEL => true,
            // The hints are the server's word about its own tool: only that server's state is at stake.
            methods::TOOLS_CALL => self
                .tool_annotations
                .is_some_and(|a| a.read_only_hint == Some(true) || a.idempotent_hint == Some(true)),
            _ => false,
        }
    }
}

/// Decides which 2026-07-28 requests are sent again (with a new id) when their Streamable HTTP reply stream
/// breaks before the reply. A request that is not re-issued fails with
/// [`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown): it may or may not have run.
///
/// Applies to the modern era over HTTP only: byte-stream transports do not break per request, and the legacy
/// era resumes streams with `Last-Event-ID` and re-sends only what the server refused (404) instead.
/// How many times a request is re-issued is [`HttpOptions::max_reissues`](crate::transport::HttpOptions).
///
/// ```
/// use mcp_client::{Client, ReissuePolicy, ReissueRequest};
///
/// // The default rule, plus one tool this application knows to be idempotent though it is not annotated.
/// let policy = ReissuePolicy::custom(|r: &ReissueRequest<'_>| {
///     r.is_safe() || r.tool_name() == Some("set_status")
/// });
/// let builder = Client::builder().reissue_policy(policy);
/// # let _ = builder;
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ReissuePolicy {
    /// Re-issue what is safe to repeat ([`ReissueRequest::is_safe`]). The default.
    #[default]
    Safe,
    /// Never re-issue: every broken stream fails its request (a `subscriptions/listen` stream then ends
    /// when the server restarts).
    Never,
    /// Re-issue every request, whatever it does. Only for servers whose every request is idempotent: a
    /// side-effecting tool may run twice.
    Always,
    /// Ask this function (see [`ReissuePolicy::custom`]).
    Custom(Arc<dyn Fn(&ReissueRequest<'_>) -> bool + Send + Sync>),
}

impl ReissuePolicy {
    /// A policy that asks `f` for each request (called once, when the request is sent).
    pub fn custom(f: impl Fn(&ReissueRequest<'_>) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// Whether `req` may be re-issued after its reply stream broke.
    pub fn allows(&self, req: &ReissueRequest<'_>) -> bool {
        match self {
            Self::Safe => req.is_safe(),
            Self::Never => false,
            Self::Always => true,
            Self::Custom(f) => f(req),
        }
    }
}

impl fmt::Debug for ReissuePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Safe => f.write_str("Safe"),
            Self::Never => f.write_str("Never"),
            Self::Always => f.write_str("Always"),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(annotations: Option<&ToolAnnotations>) -> bool {
        let params = json!({"name": "t"});
        ReissueRequest {
            method: methods::TOOLS_CALL,
            params: Some(&params),
            tool_annotations: annotations,
        }
        .is_safe()
    }

    #[test]
    fn the_safe_rule() {
        let req = |method| ReissueRequest {
            method,
            params: None,
            tool_annotations: None,
        };
        for m in [
            methods::SUBSCRIPTIONS_LISTEN,
            methods::TOOLS_LIST,
            methods::RESOURCES_READ,
            methods::DISCOVER,
            methods::COMPLETION_COMPLETE,
        ] {
            assert!(req(m).is_safe(), "{m}");
        }
        for m in [
            methods::LOGGING_SET_LEVEL,
            methods::RESOURCES_SUBSCRIBE,
            "x/custom",
        ] {
            assert!(!req(m).is_safe(), "{m}");
        }
        assert!(!call(None), "a tool never listed is not safe");
        assert!(!call(Some(&ToolAnnotations::default())));
        let hint = |ro, idem| ToolAnnotations {
            read_only_hint: ro,
            idempotent_hint: idem,
            ..Default::default()
        };
        assert!(call(Some(&hint(Some(true), None))));
        assert!(call(Some(&hint(None, Some(true)))));
        assert!(!call(Some(&hint(Some(false), Some(false)))));
    }

    #[test]
    fn policies() {
        let params = json!({"name": "charge"});
        let r = ReissueRequest {
            method: methods::TOOLS_CALL,
            params: Some(&params),
            tool_annotations: None,
        };
        assert!(!ReissuePolicy::Safe.allows(&r));
        assert!(ReissuePolicy::Always.allows(&r));
        assert!(!ReissuePolicy::Never.allows(&r));
        assert!(ReissuePolicy::custom(|r| r.tool_name() == Some("charge")).allows(&r));
    }
}
