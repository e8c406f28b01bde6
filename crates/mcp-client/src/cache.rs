//! The result cache of the 2026-07-28 era (SEP-2549).
//!
//! Complete results of `server/discover`, the list methods and `resources/read` carry `ttlMs` and
//! `cacheScope`. A result is fresh while `now < received + ttlMs` (absent or negative means 0: never reused).
//! The key is the method plus the parameter that matters (cursor or URI); `private` results are keyed by the
//! authorization context as well, so they are never shared across contexts. `input_required` results and MRTR
//! retries are never stored (the client does not offer them). `list_changed` and `resources/updated`
//! notifications invalidate at once.
//!
//! It is bounded: at most `max_entries` results and `max_bytes` of them (measured as JSON text, roughly).
//! Expired results are swept on insertion once the earliest of them has expired, so results nobody reads
//! again do not stay; when a cap is still exceeded, the least recently used results are evicted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

// `std`'s `Instant::now` panics on wasm32-unknown-unknown; `web_time`'s is `std`'s natively.
use web_time::Instant;

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
    /// The approximate size, counted against `max_bytes`.
    bytes: usize,
    /// When it was last stored or read (a tick of `Map::clock`): the least recent is evicted first.
    used: u64,
}

#[derive(Debug, Default)]
struct Map {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
    /// The earliest expiry among the entries (an upper bound on when a sweep finds something).
    next_expiry: Option<Instant>,
}

impl Map {
    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.bytes;
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Key, &Entry) -> bool) {
        let mut freed = 0;
        self.entries.retain(|k, e| {
            let kept = keep(k, e);
            if !kept {
                freed += e.bytes;
            }
            kept
        });
        self.bytes -= freed;
    }

    fn sweep_expired(&mut self, now: Instant) {
        if self.next_expiry.is_none_or(|t| now < t) {
            return;
        }
        self.retain(|_, e| now < e.expires);
        self.next_expiry = self.entries.values().map(|e| e.expires).min();
    }

    /// Evict the least recently used entries until one more of `incoming` bytes fits.
    fn make_room(&mut self, incoming: usize, max_entries: usize, max_bytes: usize) {
        while !self.entries.is_empty()
            && (self.entries.len() >= max_entries || self.bytes + incoming > max_bytes)
        {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            self.remove(&oldest);
        }
    }
}

/// The approximate size of a value as JSON text, without serializing it.
fn json_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(|x| json_size(x) + 1).sum::<usize>(),
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, x)| k.len() + 4 + json_size(x))
                .sum::<usize>()
        }
    }
}

/// The cache. Cheap operations under one short lock.
#[derive(Debug)]
pub(crate) struct ResultCache {
    map: Mutex<Map>,
    max_entries: usize,
    max_bytes: usize,
}

fn private_scope(auth: Option<&str>) -> Option<String> {
    Some(auth.unwrap_or("").to_owned())
}

impl ResultCache {
    /// A cache of at most `max_entries` results and `max_bytes` bytes.
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            map: Mutex::new(Map::default()),
            max_entries,
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// A fresh cached result, public first, then private to `auth`.
    pub(crate) fn get(&self, method: &str, param: &str, auth: Option<&str>) -> Option<Value> {
        let now = Instant::now();
        let mut map = self.lock();
        map.clock += 1;
        let tick = map.clock;
        for scope in [None, private_scope(auth)] {
            let key = Key {
                method: method.to_owned(),
                param: param.to_owned(),
                scope,
            };
            match map.entries.get_mut(&key) {
                Some(e) if now < e.expires => {
                    e.used = tick;
                    return Some(e.value.clone());
                }
                Some(_) => map.remove(&key),
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
        let bytes = json_size(value) + method.len() + param.len();
        if self.max_entries == 0 || bytes > self.max_bytes {
            return;
        }
        let now = Instant::now();
        let expires = now + Duration::from_millis(ttl);
        let mut map = self.lock();
        map.remove(&key);
        map.sweep_expired(now);
        map.make_room(bytes, self.max_entries, self.max_bytes);
        map.clock += 1;
        let used = map.clock;
        map.bytes += bytes;
        map.next_expiry = Some(map.next_expiry.map_or(expires, |t| t.min(expires)));
        map.entries.insert(
            key,
            Entry {
                value: value.clone(),
                expires,
                bytes,
                used,
            },
        );
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
        let mut map = self.lock();
        map.entries.clear();
        map.bytes = 0;
        map.next_expiry = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cache() -> ResultCache {
        ResultCache::new(1024, 1 << 20)
    }

    #[test]
    fn honours_ttl_scope_and_invalidation() {
        let c = cache();
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

    fn public(ttl: u64) -> Value {
        json!({"contents": [], "ttlMs": ttl, "cacheScope": "public"})
    }

    #[test]
    fn results_never_read_again_are_evicted_at_the_entry_cap() {
        let c = ResultCache::new(8, 1 << 20);
        for i in 0..1000 {
            c.put(
                methods::RESOURCES_READ,
                &format!("file:///{i}"),
                None,
                &public(60_000),
            );
        }
        assert_eq!(c.len(), 8);
        // The newest survive.
        assert!(c
            .get(methods::RESOURCES_READ, "file:///999", None)
            .is_some());
        assert!(c.get(methods::RESOURCES_READ, "file:///0", None).is_none());
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let c = ResultCache::new(3, 1 << 20);
        for u in ["a", "b", "c"] {
            c.put(methods::RESOURCES_READ, u, None, &public(60_000));
        }
        assert!(c.get(methods::RESOURCES_READ, "a", None).is_some());
        c.put(methods::RESOURCES_READ, "d", None, &public(60_000));
        assert!(
            c.get(methods::RESOURCES_READ, "a", None).is_some(),
            "read recently"
        );
        assert!(
            c.get(methods::RESOURCES_READ, "b", None).is_none(),
            "least recent"
        );
        assert!(c.get(methods::RESOURCES_READ, "c", None).is_some());
        // Storing a key again replaces it rather than counting twice.
        c.put(methods::RESOURCES_READ, "c", None, &public(60_000));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn the_byte_cap_holds_and_an_oversized_result_is_not_stored() {
        let c = ResultCache::new(1000, 10_000);
        let big = |n: usize| json!({"contents": [{"text": "x".repeat(n)}], "ttlMs": 60_000, "cacheScope": "public"});
        for i in 0..100 {
            c.put(methods::RESOURCES_READ, &i.to_string(), None, &big(1000));
        }
        let bytes = c.lock().bytes;
        assert!(bytes <= 10_000, "{bytes}");
        assert!((8..=10).contains(&c.len()), "{}", c.len());
        c.put(methods::RESOURCES_READ, "huge", None, &big(20_000));
        assert!(c.get(methods::RESOURCES_READ, "huge", None).is_none());
        // Invalidation gives the bytes back.
        c.invalidate_method(methods::RESOURCES_READ);
        assert_eq!(c.lock().bytes, 0);
    }

    #[test]
    fn expired_results_are_swept_on_insert_though_nobody_reads_them() {
        let c = cache();
        for i in 0..100 {
            c.put(methods::RESOURCES_READ, &i.to_string(), None, &public(1));
        }
        std::thread::sleep(Duration::from_millis(5));
        c.put(methods::TOOLS_LIST, "", None, &public(60_000));
        assert_eq!(c.len(), 1);
        assert!(c.get(methods::TOOLS_LIST, "", None).is_some());
    }

    #[test]
    fn expires() {
        let c = cache();
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
