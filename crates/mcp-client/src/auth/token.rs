//! Token endpoint requests (RFC 6749 §3.2, §4.1.3, §6) and client authentication.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use super::assertion::ClientKey;
use super::dpop::DpopKey;
use super::store::{unix_now, ClientRegistration, TokenSet};
use crate::error::{AuthErrorKind, Error};

/// An OAuth error response (RFC 6749 §5.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OAuthErrorResponse {
    /// The error code (`invalid_grant`, `invalid_client`, `use_dpop_nonce`, …).
    pub error: String,
    /// A human-readable description.
    #[serde(default)]
    pub error_description: Option<String>,
}

impl std::fmt::Display for OAuthErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error_description {
            Some(d) => write!(f, "{} ({d})", self.error),
            None => f.write_str(&self.error),
        }
    }
}

/// A successful token response.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl TokenResponse {
    /// The token set to keep: the granted scopes are the response's, else the requested ones (RFC 6749
    /// §5.1); a refresh that returns no new refresh token keeps the old one.
    pub fn into_token_set(
        self,
        issuer: &str,
        requested: &[String],
        previous_refresh: Option<String>,
    ) -> TokenSet {
        TokenSet {
            issuer: issuer.to_owned(),
            access_token: self.access_token,
            token_type: self.token_type.unwrap_or_else(|| "Bearer".into()),
            refresh_token: self.refresh_token.or(previous_refresh),
            expires_at: self.expires_in.map(|s| unix_now().saturating_add(s)),
            issued_at: Some(unix_now()),
            scopes: match self.scope {
                Some(s) => super::challenge::split_scopes(&s),
                None => requested.to_vec(),
            },
        }
    }
}

/// Why a token request failed: the server's OAuth error (with its `DPoP-Nonce`, if any) or something else.
#[derive(Debug)]
pub(crate) enum TokenFailure {
    OAuth {
        status: u16,
        error: OAuthErrorResponse,
        // The nonce a DPoP-enabled server demands with `use_dpop_nonce` (RFC 9449 §8).
        dpop_nonce: Option<String>,
    },
    Other(Error),
}

impl From<TokenFailure> for Error {
    fn from(f: TokenFailure) -> Self {
        match f {
            TokenFailure::OAuth { status, error, .. } => {
                Error::auth(AuthErrorKind::Token, format!("HTTP {status}: {error}"))
            }
            TokenFailure::Other(e) => e,
        }
    }
}

/// Add client authentication to a token request, the way the registration says (`private_key_jwt` is
/// added by the caller, which holds the key).
pub(crate) fn authenticate(
    rb: reqwest::RequestBuilder,
    form: &mut Vec<(String, String)>,
    client: &ClientRegistration,
) -> reqwest::RequestBuilder {
    let method =
        client
            .token_endpoint_auth_method
            .as_deref()
            .unwrap_or(if client.client_secret.is_some() {
                "client_secret_basic"
            } else {
                "none"
            });
    match (method, &client.client_secret) {
        ("client_secret_basic", Some(secret)) => {
            // RFC 6749 §2.3.1: form-urlencode both parts before base64.
            let user = form_encode(&client.client_id);
            let pass = form_encode(secret);
            let mut v = reqwest::header::HeaderValue::from_str(&format!(
                "Basic {}",
                STANDARD.encode(format!("{user}:{pass}"))
            ))
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
            v.set_sensitive(true);
            rb.header(reqwest::header::AUTHORIZATION, v)
        }
        ("client_secret_post", Some(secret)) => {
            form.push(("client_id".into(), client.client_id.clone()));
            form.push(("client_secret".into(), secret.clone()));
            rb
        }
        _ => {
            form.push(("client_id".into(), client.client_id.clone()));
            rb
        }
    }
}

fn form_encode(s: &str) -> String {
    url_encode(s)
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// POST a token request and read the answer.
pub(crate) async fn send(
    rb: reqwest::RequestBuilder,
    form: &[(String, String)],
) -> Result<TokenResponse, TokenFailure> {
    let bytes = send_raw(rb, form).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        TokenFailure::Other(Error::auth(
            AuthErrorKind::Token,
            format!("unreadable token response: {e}"),
        ))
    })
}

/// POST a form to a token endpoint; the body of a successful answer.
pub(crate) async fn send_raw(
    rb: reqwest::RequestBuilder,
    form: &[(String, String)],
) -> Result<bytes::Bytes, TokenFailure> {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let resp = rb
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            TokenFailure::Other(Error::auth(
                AuthErrorKind::Network,
                format!("token endpoint: {e}"),
            ))
        })?;
    let status = resp.status();
    let dpop_nonce = resp
        .headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = super::read_auth_body(resp, "token endpoint")
        .await
        .map_err(TokenFailure::Other)?;
    if status.is_success() {
        return Ok(bytes);
    }
    let error =
        serde_json::from_slice::<OAuthErrorResponse>(&bytes).unwrap_or(OAuthErrorResponse {
            error: format!("http_{}", status.as_u16()),
            error_description: None,
        });
    Err(TokenFailure::OAuth {
        status: status.as_u16(),
        error,
        dpop_nonce,
    })
}

/// One authorization server's token endpoint, with everything a request to it needs: the client's
/// authentication (including `private_key_jwt`) and, for sender-constrained tokens, a DPoP key and the
/// server's latest nonce.
pub(crate) struct TokenEndpoint<'a> {
    pub http: &'a reqwest::Client,
    pub url: &'a str,
    /// The issuer identifier: the audience of client assertions.
    pub issuer: &'a str,
    pub client: &'a ClientRegistration,
    pub client_key: Option<&'a ClientKey>,
    pub dpop: Option<&'a DpopKey>,
    /// The nonce the server last asked DPoP proofs to carry (RFC 9449 §8).
    pub dpop_nonce: &'a std::sync::Mutex<Option<String>>,
}

impl TokenEndpoint<'_> {
    /// Send a token request; retried once when a DPoP server asks for a (new) nonce.
    pub async fn request(&self, form: &[(String, String)]) -> Result<TokenResponse, TokenFailure> {
        let url = reqwest::Url::parse(self.url).map_err(|e| {
            TokenFailure::Other(Error::auth(
                AuthErrorKind::Metadata,
                format!("token endpoint {:?}: {e}", self.url),
            ))
        })?;
        let mut attempt = 0;
        loop {
            let mut form = form.to_vec();
            let mut rb = self.authenticate(self.http.post(url.clone()), &mut form)?;
            if let Some(key) = self.dpop {
                let nonce = lock(self.dpop_nonce).clone();
                let proof = key.proof(&reqwest::Method::POST, &url, None, nonce.as_deref());
                rb = rb.header("DPoP", proof);
            }
            match send(rb, &form).await {
                Err(TokenFailure::OAuth {
                    error,
                    dpop_nonce: Some(nonce),
                    ..
                }) if self.dpop.is_some() && error.error == "use_dpop_nonce" && attempt == 0 => {
                    tracing::debug!("token endpoint asked for a DPoP nonce; retrying with it");
                    *lock(self.dpop_nonce) = Some(nonce);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn authenticate(
        &self,
        rb: reqwest::RequestBuilder,
        form: &mut Vec<(String, String)>,
    ) -> Result<reqwest::RequestBuilder, TokenFailure> {
        if self.client.token_endpoint_auth_method.as_deref() != Some("private_key_jwt") {
            return Ok(authenticate(rb, form, self.client));
        }
        let key = self.client_key.ok_or_else(|| {
            TokenFailure::Other(Error::auth(
                AuthErrorKind::Unsupported,
                "private_key_jwt needs the client's private key".into(),
            ))
        })?;
        let assertion = key
            .client_assertion(&self.client.client_id, self.issuer)
            .map_err(TokenFailure::Other)?;
        form.push(("client_id".into(), self.client.client_id.clone()));
        form.push((
            "client_assertion_type".into(),
            super::assertion::CLIENT_ASSERTION_TYPE.into(),
        ));
        form.push(("client_assertion".into(), assertion));
        Ok(rb)
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(url_encode("a b+c/é"), "a+b%2Bc%2F%C3%A9");
        assert_eq!(url_encode("AZaz09-._*"), "AZaz09-._*");
    }

    #[test]
    fn granted_scopes_default_to_requested() {
        let r = TokenResponse {
            access_token: "t".into(),
            token_type: None,
            expires_in: Some(60),
            refresh_token: None,
            scope: None,
        };
        let t = r.into_token_set("iss", &["a".into()], Some("old".into()));
        assert_eq!(t.scopes, ["a"]);
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.refresh_token.as_deref(), Some("old"));
        assert!(t.expires_at.unwrap() >= unix_now() + 59);
    }
}
