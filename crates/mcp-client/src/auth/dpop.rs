//! DPoP proofs (RFC 9449): a key the client holds, and the signed proof JWT that binds a token request or a
//! resource request to it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore;
use reqwest::{Method, Url};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::store::unix_now;
use crate::error::{AuthErrorKind, Error};

/// The only algorithm the client signs proofs with (the one every DPoP server must accept in practice).
pub(crate) const DPOP_ALG: &str = "ES256";

/// A P-256 key pair that DPoP-bound tokens are bound to.
#[derive(Clone)]
pub(crate) struct DpopKey {
    key: SigningKey,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        loop {
            let mut secret = [0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            // A 32-byte string is a valid P-256 scalar unless it is 0 or ≥ the group order (chance ~2^-32).
            if let Ok(key) = SigningKey::from_slice(&secret) {
                return Self { key };
            }
        }
    }

    /// The key kept in a token store (`export`'s output).
    pub fn import(secret: &str) -> Result<Self, Error> {
        let bytes = URL_SAFE_NO_PAD.decode(secret).map_err(|_| {
            Error::auth(
                AuthErrorKind::Storage,
                "stored DPoP key is not base64url".into(),
            )
        })?;
        SigningKey::from_slice(&bytes)
            .map(|key| Self { key })
            .map_err(|_| {
                Error::auth(
                    AuthErrorKind::Storage,
                    "stored DPoP key is not a P-256 private key".into(),
                )
            })
    }

    /// The private scalar, base64url: what a token store keeps so DPoP-bound tokens survive a restart.
    pub fn export(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.to_bytes())
    }

    /// The public key as a JWK (RFC 7517), for the proof header.
    fn public_jwk(&self) -> serde_json::Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().map(|x| &x[..]).unwrap_or_default()),
            "y": URL_SAFE_NO_PAD.encode(point.y().map(|y| &y[..]).unwrap_or_default()),
        })
    }

    /// A proof for one HTTP request (RFC 9449 §4.2): `htu` without query or fragment, a fresh `jti`, and
    /// `ath` when it accompanies an access token.
    pub fn proof(
        &self,
        method: &Method,
        url: &Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let header = json!({ "typ": "dpop+jwt", "alg": DPOP_ALG, "jwk": self.public_jwk() });
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method.as_str(),
            "htu": htu.as_str(),
            "iat": unix_now(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(access_token_hash(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // ES256 per RFC 7518 §3.4: SHA-256, signature as the fixed-size r || s.
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

/// `ath`: base64url of the SHA-256 of the access token.
fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn proof_is_a_verifiable_dpop_jwt() {
        let key = DpopKey::generate();
        let url = Url::parse("https://rs.example/mcp?x=1#frag").unwrap();
        let proof = key.proof(&Method::POST, &url, Some("tok"), Some("n-1"));
        let parts: Vec<&str> = proof.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        let claims = decode(parts[1]);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert!(
            header["jwk"].get("d").is_none(),
            "no private key in the header"
        );
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://rs.example/mcp");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["ath"], access_token_hash("tok"));
        assert!(claims["iat"].as_u64().unwrap() + 5 >= unix_now());

        // The signature verifies with the key in the header (r || s, 64 bytes).
        let x = URL_SAFE_NO_PAD
            .decode(header["jwk"]["x"].as_str().unwrap())
            .unwrap();
        let y = URL_SAFE_NO_PAD
            .decode(header["jwk"]["y"].as_str().unwrap())
            .unwrap();
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        let vk = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();

        // Every proof is fresh.
        let again = key.proof(&Method::POST, &url, Some("tok"), None);
        assert_ne!(
            decode(again.split('.').nth(1).unwrap())["jti"],
            claims["jti"]
        );
    }

    #[test]
    fn exported_key_round_trips() {
        let key = DpopKey::generate();
        let back = DpopKey::import(&key.export()).unwrap();
        assert_eq!(back.public_jwk(), key.public_jwk());
        assert!(DpopKey::import("not base64!").is_err());
        assert!(DpopKey::import(&URL_SAFE_NO_PAD.encode([0u8; 32])).is_err());
    }

    #[test]
    fn ath_matches_rfc_9449_example() {
        // RFC 9449 §7.1: the example access token and its `ath`.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
