//! HTTP calls to the authorization server (JWKS, introspection): a client with connect and total timeouts,
//! and response bodies read up to a cap, so a slow or hostile endpoint can neither hang verification nor
//! exhaust memory.

use std::time::Duration;

#[cfg(feature = "auth-remote")]
use super::TokenError;

/// Default time allowed to connect to the authorization server.
#[cfg(feature = "auth-remote")]
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time allowed for a whole exchange with the authorization server, body included.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client whose every request gives up after `timeout` (connecting within `connect_timeout`).
#[cfg(feature = "auth-remote")]
pub(crate) fn client(connect_timeout: Duration, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .build()
        // Building fails only when the TLS backend cannot initialise, which `Client::new` would also hit.
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "building the authorization HTTP client failed; using defaults");
            reqwest::Client::new()
        })
}

/// Send `req`, check the status, and read the body, refusing more than `max` bytes.
#[cfg(feature = "auth-remote")]
pub(crate) async fn send_capped(
    what: &str,
    req: reqwest::RequestBuilder,
    max: usize,
) -> Result<Vec<u8>, TokenError> {
    let mut r = req.send().await.map_err(|e| unavailable(what, &e))?;
    if !r.status().is_success() {
        return Err(TokenError::Unavailable(format!(
            "{what} answered {}",
            r.status()
        )));
    }
    let too_large = || TokenError::Unavailable(format!("{what} response exceeds {max} bytes"));
    if r.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| unavailable(what, &e))? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(feature = "auth-remote")]
fn unavailable(what: &str, e: &reqwest::Error) -> TokenError {
    if e.is_timeout() {
        TokenError::Unavailable(format!("{what} timed out"))
    } else {
        TokenError::Unavailable(format!("{what}: {e}"))
    }
}
