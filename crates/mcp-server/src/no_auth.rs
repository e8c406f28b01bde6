//! Without the `auth` feature no layer can require scopes, so no request carries a guard: [`ScopeGuard`]
//! has no values, and the checks against it compile to nothing.

use serde_json::Value;

use crate::middleware::McpResponse;
use crate::Principal;

/// Stands in for `auth::ScopeGuard`; it has no values.
#[derive(Clone)]
pub(crate) enum ScopeGuard {}

impl ScopeGuard {
    pub(crate) fn refuse(
        &self,
        _method: &str,
        _params: Option<&Value>,
        _principal: Option<&Principal>,
    ) -> Option<McpResponse> {
        match *self {}
    }

    #[cfg(feature = "http")]
    pub(crate) fn refuse_value(
        &self,
        _value: &Value,
        _principal: Option<&Principal>,
    ) -> Option<http::Response<crate::http::McpBody>> {
        match *self {}
    }
}
