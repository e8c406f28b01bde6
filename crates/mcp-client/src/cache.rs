//! The result cache of the 2026-07-28 era (SEP-2549).
//!
//! Complete results of `server/discover`, the list methods and `resources/read` carry `ttlMs` and
//! `cacheScope`. A result is fresh while `now < received + ttlMs` (absent or negative means 0: never reused).
//! The key is the method plus the parameter that matters (cursor or URI); `private` results are keyed by the
//! authorization context as well, so they are never shared across contexts. `input_required` results and MRTR
//! retries are never stored (the client does not offer them). `list_changed` and `resources/updated`
//! notifications invalidate at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mcp_protocol::types::{methods, CacheScope};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    method: String,
    param: String,
    /// `None` for public results; the authorization context for private ones.
    scope: Option<String>,
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires: Instant,
}

/// The cache. Cheap operations under one short lock.
#[derive(Debug, Default)]
pub(crate) struct ResultCache {
    entries: Mutex<HashMap<Key, Entry>>,
}

fn private_scope(auth: Option<&str>) -> Option<String> {
    Some(auth.unwrap_or("").to_owned())
}

impl ResultCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh cached result, public first, then private to `auth`.
    pub(crate) fn get(&self, method: &str, param: &str, auth: Option<&str>) -> Option<Value> {
        let now = Instant::now();
        let mut map = self.lock();
        for scope in [None, private_scope(auth)] {
            let key = Key {
                method: method.to_owned(),
                param: param.to_owned(),
                scope,
            };
            match map.get(&key) {
                Some(e) if now < e.expires => return Some(e.value.clone()),
                Some(_) => {
                    map.remove(&key);
                }
                None => {}
            }
        }
        None
    }

    /// Store a complete result if it says it may be reused.
    pub(crate) fn put(&self, method: &str, param: &str, auth: Option<&str>, value: &Value) {
        let ttl = match value.get("ttlMs") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => 0,
        };
        if ttl == 0 {
            return;
        }
        if value
            .get("resultType")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "complete")
        {
            return;
        }
        let scope = match value
            .get("cacheScope")
            .and_then(|v| serde_json::from_value::<CacheScope>(v.clone()).ok())
        {
            Some(CacheScope::Public) => None,
            // Absent or private: never shared across authorization contexts.
            _ => private_scope(auth),
        };
        let key = Key {
            method: method.to_owned(),
            param: param.to_owned(),
            scope,
        };
        let entry = Entry {
            value: value.clone(),
            expires: Instant::now() + Duration::from_millis(ttl),
        };
        self.lock().insert(key, entry);
    }

    /// Forget every result of `method`.
    pub(crate) fn invalidate_method(&self, method: &str) {
        self.lock().retain(|k, _| k.method != method);
    }

    /// Forget the cached read of one URI.
    pub(crate) fn invalidate_read(&self, uri: &str) {
        self.lock()
            .retain(|k, _| !(k.method == methods::RESOURCES_READ && k.param == uri));
    }

    /// React to a server notification.
    pub(crate) fn on_notification(&self, method: &str, params: Option<&Value>) {
        match method {
            methods::NOTIF_TOOLS_LIST_CHANGED => self.invalidate_method(methods::TOOLS_LIST),
            methods::NOTIF_PROMPTS_LIST_CHANGED => self.invalidate_method(methods::PROMPTS_LIST),
            methods::NOTIF_RESOURCES_LIST_CHANGED => {
                self.invalidate_method(methods::RESOURCES_LIST);
                self.invalidate_method(methods::RESOURCES_TEMPLATES_LIST);
            }
            methods::NOTIF_RESOURCES_UPDATED => {
                if let Some(uri) = params.and_then(|p| p.get("uri")).and_then(Value::as_str) {
                    self.invalidate_read(uri);
                }
            }
            _ => {}
        }
    }

    /// Forget everything.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn honours_ttl_scope_and_invalidation() {
        let c = ResultCache::default();
        let public =
            json!({"resultType": "complete", "tools": [], "ttlMs": 60_000, "cacheScope": "public"});
        c.put(methods::TOOLS_LIST, "", Some("alice"), &public);
        assert_eq!(
            c.get(methods::TOOLS_LIST, "", Some("bob")),
            Some(public.clone())
        );

        let private = json!({"resultType": "complete", "contents": [], "ttlMs": 60_000, "cacheScope": "private"});
        c.put(
            methods::RESOURCES_READ,
            "file:///a",
            Some("alice"),
            &private,
        );
        assert!(c
            .get(methods::RESOURCES_READ, "file:///a", Some("alice"))
            .is_some());
        assert!(c
            .get(methods::RESOURCES_READ, "file:///a", Some("bob"))
            .is_none());
        assert!(c
            .get(methods::RESOURCES_READ, "file:///b", Some("alice"))
            .is_none());

        // Zero, absent or negative TTLs and input_required results are not stored.
        for v in [
            json!({"tools": [], "ttlMs": 0}),
            json!({"tools": []}),
            json!({"tools": [], "ttlMs": -5}),
            json!({"resultType": "input_required", "ttlMs": 1000}),
        ] {
            c.put(methods::PROMPTS_LIST, "", None, &v);
            assert!(c.get(methods::PROMPTS_LIST, "", None).is_none(), "{v}");
        }

        c.on_notification(
            methods::NOTIF_RESOURCES_UPDATED,
            Some(&json!({"uri": "file:///a"})),
        );
        assert!(c
            .get(methods::RESOURCES_READ, "file:///a", Some("alice"))
            .is_none());
        c.on_notification(methods::NOTIF_TOOLS_LIST_CHANGED, None);
        assert!(c.get(methods::TOOLS_LIST, "", None).is_none());
    }

    #[test]
    fn expires() {
        let c = ResultCache::default();
        c.put(
            methods::TOOLS_LIST,
            "",
            None,
            &json!({"tools": [], "ttlMs": 1, "cacheScope": "public"}),
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get(methods::TOOLS_LIST, "", None).is_none());
    }
}
