use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::JsonObject;

/// Name and version of an MCP implementation (client or server).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Implementation {
    /// Programmatic name.
    pub name: String,
    /// Version string.
    pub version: String,
    /// Display name (2025-06-18+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description (2025-11-25+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Website (2025-11-25+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    /// Icons (2025-11-25+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
}

impl Implementation {
    /// Name and version only.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            ..Default::default()
        }
    }
}

with_setters!(Implementation {
    /// Set the display name.
    with_title => title: String,
    /// Set the description.
    with_description => description: String,
    /// Set the website.
    with_website_url => website_url: String,
    /// Set the icons.
    with_icons => icons: Vec<Icon>,
});

/// An icon (2025-11-25+).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Icon {
    /// `https:` or `data:` URI.
    pub src: String,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Sizes such as `"48x48"` or `"any"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<Vec<String>>,
    /// `light` or `dark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
}

impl Icon {
    /// An icon at `src` (an `https:` or `data:` URI).
    pub fn new(src: impl Into<String>) -> Self {
        Self {
            src: src.into(),
            mime_type: None,
            sizes: None,
            theme: None,
        }
    }
}

with_setters!(Icon {
    /// Set the MIME type.
    with_mime_type => mime_type: String,
    /// Set the sizes, such as `"48x48"` or `"any"`.
    with_sizes => sizes: Vec<String>,
    /// Set the theme it suits: `light` or `dark`.
    with_theme => theme: String,
});

/// Who a message or content is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user.
    User,
    /// The assistant (model).
    Assistant,
}

/// Hints about how content is to be used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    /// Intended audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Vec<Role>>,
    /// Importance from 0 to 1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_f64"
    )]
    pub priority: Option<f64>,
    /// ISO 8601 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

with_setters!(Annotations {
    /// Set the intended audience.
    with_audience => audience: Vec<Role>,
    /// Set the importance, from 0 to 1.
    with_priority => priority: f64,
    /// Set the last modification time (ISO 8601).
    with_last_modified => last_modified: String,
});

/// Params of a paginated list request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaginatedParams {
    /// Opaque cursor from the previous page (`""` is a valid cursor on 2026-07-28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Request metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Whether a cached result may be shared across authorization contexts (2026-07-28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// Any client may share it.
    Public,
    /// Only the same authorization context may reuse it.
    #[default]
    Private,
}

/// An empty result (`{}`), as `ping`, `logging/setLevel` and subscribe return.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmptyResult {
    /// Result metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Params that carry only `_meta`: `server/discover` and other requests without arguments (the schema's
/// `RequestParams`; on 2026-07-28 `_meta` is required on every request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestParams {
    /// Request metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Params of notifications that carry only `_meta`, such as the `list_changed` notifications (the schema's
/// `NotificationParams`; on 2026-07-28 listen streams put `subscriptionId` here).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationParams {
    /// Notification metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// A result with the 2026-07-28 caching fields (`ttlMs`, `cacheScope`; SEP-2549) around it: the schema's
/// `CacheableResult` mixin, used by `tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`
/// and `resources/read` ([`DiscoverResult`](super::DiscoverResult) has the fields itself).
///
/// `resultType` is not here: wrap this in [`Outcome`](super::Outcome) for that.
///
/// ```
/// use mcp_protocol::types::{Cacheable, CacheScope, ListToolsResult, Outcome};
/// let json = serde_json::json!({"resultType": "complete", "tools": [], "ttlMs": 1000, "cacheScope": "public"});
/// let Outcome::Complete(page) = serde_json::from_value::<Outcome<Cacheable<ListToolsResult>>>(json).unwrap() else {
///     panic!()
/// };
/// assert_eq!(page.ttl_ms, Some(1000));
/// assert_eq!(page.cache_scope, Some(CacheScope::Public));
/// assert!(page.result.tools.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cacheable<T> {
    /// The result itself.
    #[serde(flatten)]
    pub result: T,
    /// Freshness lifetime in milliseconds (absent or negative means 0: do not reuse).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_ttl_ms"
    )]
    pub ttl_ms: Option<u64>,
    /// Cache sharing scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_scope: Option<CacheScope>,
}

impl<T> Cacheable<T> {
    /// A result with no caching hints (legacy peers, or results that must not be cached).
    pub fn new(result: T) -> Self {
        Self {
            result,
            ttl_ms: None,
            cache_scope: None,
        }
    }
    /// A result with a lifetime and scope.
    pub fn with_ttl(result: T, ttl_ms: u64, cache_scope: CacheScope) -> Self {
        Self {
            result,
            ttl_ms: Some(ttl_ms),
            cache_scope: Some(cache_scope),
        }
    }
    /// The lifetime the spec says to use: absent means 0.
    pub fn effective_ttl_ms(&self) -> u64 {
        self.ttl_ms.unwrap_or(0)
    }
}

impl<T> From<T> for Cacheable<T> {
    fn from(result: T) -> Self {
        Self::new(result)
    }
}

impl<T> std::ops::Deref for Cacheable<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.result
    }
}

impl<T> std::ops::DerefMut for Cacheable<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.result
    }
}

/// Write an `f64` as a JSON integer when it is one (`50`, not `50.0`), as peers in other languages do.
pub(crate) fn ser_f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= MAX_SAFE {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// [`ser_f64`] for optional fields (used with `skip_serializing_if = "Option::is_none"`).
pub(crate) fn ser_opt_f64<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => ser_f64(v, s),
        None => s.serialize_none(),
    }
}

/// Read `ttlMs` leniently: the spec says a negative value means 0, so it must not fail the whole result.
pub(crate) fn de_ttl_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error as _;
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(Some(u))
            } else if n.as_i64().is_some() {
                Ok(Some(0))
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                Ok(Some(if f > 0.0 { f as u64 } else { 0 }))
            }
        }
        other => Err(D::Error::custom(format!(
            "ttlMs must be a number, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::types::{ListToolsResult, ProgressParams};

    #[test]
    fn ttl_is_read_leniently() {
        let page = |ttl: Value| -> Cacheable<ListToolsResult> {
            serde_json::from_value(json!({"tools": [], "ttlMs": ttl, "cacheScope": "private"}))
                .unwrap()
        };
        assert_eq!(page(json!(5)).ttl_ms, Some(5));
        assert_eq!(page(json!(-1)).ttl_ms, Some(0), "negative means 0");
        assert_eq!(page(json!(1.5)).ttl_ms, Some(1));
        let none: Cacheable<ListToolsResult> =
            serde_json::from_value(json!({"tools": []})).unwrap();
        assert_eq!(
            (none.ttl_ms, none.cache_scope, none.effective_ttl_ms()),
            (None, None, 0)
        );
        assert!(serde_json::from_value::<Cacheable<ListToolsResult>>(
            json!({"tools": [], "ttlMs": "1"})
        )
        .is_err());
        // Written back without the fields when absent.
        assert_eq!(serde_json::to_value(&none).unwrap(), json!({"tools": []}));
    }

    #[test]
    fn integral_floats_are_written_as_integers() {
        let p = ProgressParams {
            progress_token: json!(1),
            progress: 50.0,
            total: Some(100.0),
            message: None,
            meta: None,
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"progressToken": 1, "progress": 50, "total": 100})
        );
        let p = ProgressParams {
            progress: 0.5,
            total: Some(1e300),
            ..p
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"progressToken": 1, "progress": 0.5, "total": 1e300})
        );
    }
}
