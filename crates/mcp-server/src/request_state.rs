//! Sealing of the MRTR `requestState`: HMAC-SHA256 over a payload that binds the method, a digest of the
//! request's target and arguments, an expiry, the answers gathered in earlier rounds and the handler's own round
//! state. The client echoes it opaquely; we verify it before using anything in it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use mcp_protocol::JsonObject;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The secret that seals `requestState`. Every node of a deployment must share it so a retry may land anywhere.
#[derive(Clone)]
pub struct StateKey(std::sync::Arc<[u8]>);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

impl StateKey {
    /// A key from bytes (use at least 32 random bytes).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into())
    }
    /// A key from hex digits (either case), as a fleet's nodes read it from their configuration (e.g.
    /// `openssl rand -hex 32`). At least [`StateKey::MIN_BYTES`] bytes: an HMAC-SHA256 key shorter than its
    /// output is weaker.
    ///
    /// ```
    /// use mcp_server::StateKey;
    /// assert!(StateKey::from_hex(&"ab".repeat(32)).is_ok());
    /// let short = StateKey::from_hex("abcd").unwrap_err();
    /// assert!(short.to_string().contains("at least 32 bytes"));
    /// ```
    ///
    /// # Errors
    /// [`StateKeyError`] when the text is not hex or the key is too short.
    pub fn from_hex(hex: &str) -> Result<Self, StateKeyError> {
        let hex = hex.trim();
        if !hex.len().is_multiple_of(2) {
            return Err(StateKeyError::OddLength);
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or(StateKeyError::NotHex)?;
        if bytes.len() < Self::MIN_BYTES {
            return Err(StateKeyError::TooShort(bytes.len()));
        }
        Ok(Self::new(bytes))
    }

    /// The shortest key [`StateKey::from_hex`] accepts, in bytes.
    pub const MIN_BYTES: usize = 32;

    /// A fresh random key (fine for one process; share a fixed key across a fleet).
    pub fn random() -> Self {
        let mut b = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut b);
        Self::new(b.to_vec())
    }
}

/// Why [`StateKey::from_hex`] refused a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateKeyError {
    /// An odd number of hex digits.
    #[error("a state key must be hex with an even number of digits")]
    OddLength,
    /// Something other than hex digits.
    #[error("a state key must be hex (0-9, a-f)")]
    NotHex,
    /// Fewer than [`StateKey::MIN_BYTES`] bytes (it has this many).
    #[error("a state key must be at least 32 bytes (64 hex digits); it has {0}")]
    TooShort(usize),
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Method.
    m: String,
    /// Digest of target + arguments.
    d: String,
    /// Expiry, seconds since the epoch.
    e: u64,
    /// Answers gathered so far.
    r: JsonObject,
    /// Handler round state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<Value>,
}

/// What a verified state carries.
#[derive(Debug, Default)]
pub(crate) struct Opened {
    pub responses: JsonObject,
    pub round_state: Option<Value>,
}

/// Why a state was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum StateError {
    #[error("requestState is malformed")]
    Malformed,
    #[error("requestState failed its integrity check")]
    Tampered,
    #[error("requestState belongs to another request")]
    WrongRequest,
    #[error("requestState has expired")]
    Expired,
}

/// A digest of what the request targets, so a state cannot be replayed against other arguments.
pub(crate) fn request_digest(target: &str, arguments: Option<&Value>) -> String {
    let mut h = Sha256::new();
    h.update(target.as_bytes());
    h.update([0]);
    if let Some(a) = arguments {
        h.update(canonical_json(a).as_bytes());
    }
    B64.encode(h.finalize())
}

/// JSON with object keys sorted at every level, so equal values digest equally.
fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl StateKey {
    fn mac(&self, data: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(data);
        mac
    }

    pub(crate) fn seal(
        &self,
        method: &str,
        digest: String,
        ttl: Duration,
        responses: JsonObject,
        round_state: Option<Value>,
    ) -> String {
        let payload = Payload {
            m: method.to_owned(),
            d: digest,
            e: now() + ttl.as_secs().max(1),
            r: responses,
            s: round_state,
        };
        let body = B64.encode(serde_json::to_vec(&payload).unwrap_or_default());
        let tag = B64.encode(self.mac(body.as_bytes()).finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// Open with `self`, or with one of `previous` (rotated out, still accepted) when `self` did not seal it.
    pub(crate) fn open_any(
        &self,
        previous: &[StateKey],
        state: &str,
        method: &str,
        digest: &str,
    ) -> Result<Opened, StateError> {
        let first = self.open(state, method, digest);
        if !matches!(first, Err(StateError::Tampered)) {
            return first;
        }
        previous
            .iter()
            .map(|k| k.open(state, method, digest))
            .find(|r| !matches!(r, Err(StateError::Tampered)))
            .unwrap_or(first)
    }

    pub(crate) fn open(
        &self,
        state: &str,
        method: &str,
        digest: &str,
    ) -> Result<Opened, StateError> {
        let (body, tag) = state.split_once('.').ok_or(StateError::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| StateError::Tampered)?;
        self.mac(body.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| StateError::Tampered)?;
        let bytes = B64.decode(body).map_err(|_| StateError::Malformed)?;
        let p: Payload = serde_json::from_slice(&bytes).map_err(|_| StateError::Malformed)?;
        if p.m != method || p.d != digest {
            return Err(StateError::WrongRequest);
        }
        if p.e < now() {
            return Err(StateError::Expired);
        }
        Ok(Opened {
            responses: p.r,
            round_state: p.s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seals_opens_and_refuses_tampering() {
        let k = StateKey::random();
        let d = request_digest("tool", Some(&json!({"b":1,"a":[1,{"y":2,"x":1}]})));
        assert_eq!(
            d,
            request_digest("tool", Some(&json!({"a":[1,{"x":1,"y":2}],"b":1})))
        );
        let mut r = JsonObject::new();
        r.insert("k".into(), json!({"action":"accept"}));
        let s = k.seal(
            "tools/call",
            d.clone(),
            Duration::from_secs(60),
            r,
            Some(json!(3)),
        );
        let o = k.open(&s, "tools/call", &d).unwrap();
        assert_eq!(o.round_state, Some(json!(3)));
        assert_eq!(o.responses["k"]["action"], "accept");
        assert_eq!(
            k.open(&format!("{s}-TAMPERED"), "tools/call", &d)
                .unwrap_err(),
            StateError::Tampered
        );
        assert_eq!(
            k.open(&s, "prompts/get", &d).unwrap_err(),
            StateError::WrongRequest
        );
        assert_eq!(
            k.open(&s, "tools/call", "other").unwrap_err(),
            StateError::WrongRequest
        );
        assert!(StateKey::random().open(&s, "tools/call", &d).is_err());
        // Rotation: a new key with the old one still accepted opens what the old one sealed; without it,
        // or with an unrelated previous key, the state is refused.
        let new = StateKey::random();
        let o = new.open_any(&[StateKey::random(), k.clone()], &s, "tools/call", &d);
        assert_eq!(o.unwrap().round_state, Some(json!(3)));
        assert_eq!(
            new.open_any(&[StateKey::random()], &s, "tools/call", &d)
                .unwrap_err(),
            StateError::Tampered
        );
        assert_eq!(
            new.open_any(std::slice::from_ref(&k), &s, "prompts/get", &d)
                .unwrap_err(),
            StateError::WrongRequest,
            "an old key's state is still bound to its request"
        );
        assert_eq!(
            k.open("garbage", "tools/call", &d).unwrap_err(),
            StateError::Malformed
        );
    }

    #[test]
    fn hex_keys_are_checked() {
        assert!(StateKey::from_hex(&"AB".repeat(40)).is_ok());
        assert_eq!(
            StateKey::from_hex(&"ab".repeat(31)).unwrap_err(),
            StateKeyError::TooShort(31)
        );
        assert_eq!(
            StateKey::from_hex(&format!("{}a", "ab".repeat(32))).unwrap_err(),
            StateKeyError::OddLength
        );
        assert_eq!(
            StateKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            StateKeyError::NotHex
        );
        // A multi-byte character is refused, not split mid-character.
        assert!(StateKey::from_hex(&format!("é{}", "a".repeat(62))).is_err());
    }
}
