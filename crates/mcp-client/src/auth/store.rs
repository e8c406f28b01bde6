//! Where credentials live between runs: client registrations (keyed by issuer) and tokens.

use std::collections::HashMap;
#[cfg(not(target_arch = "wasm32"))]
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

// `std`'s clock panics on wasm32-unknown-unknown; `web_time` is `std`'s natively and `Date.now()` there.
use web_time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::{AuthErrorKind, Error};

/// A client registered at one authorization server.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRegistration {
    /// The issuer that issued (or accepts) these credentials. They are never presented to another.
    pub issuer: String,
    /// The client id (for a Client ID Metadata Document, its URL).
    pub client_id: String,
    /// The client secret, for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// How the client authenticates at the token endpoint (`none`, `client_secret_basic`,
    /// `client_secret_post`, `private_key_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
}

impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .finish()
    }
}

/// Tokens from one authorization server, for one resource.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The issuer that minted them.
    pub issuer: String,
    /// The access token.
    pub access_token: String,
    /// `Bearer` or `DPoP`.
    pub token_type: String,
    /// The refresh token, if one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Expiry, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// When they were issued, in seconds since the Unix epoch (to scale the refresh margin to the lifetime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<u64>,
    /// The scopes granted (as the server reported them, else as requested).
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("issuer", &self.issuer)
            .field("token_type", &self.token_type)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl TokenSet {
    /// Whether it is time to renew: the access token expires within `margin`, or within half its lifetime
    /// when that is shorter (so a 10-second token is not renewed before every request).
    pub fn needs_renewal(&self, margin: Duration) -> bool {
        let margin = match (self.issued_at, self.expires_at) {
            (Some(at), Some(exp)) => margin.min(Duration::from_secs(exp.saturating_sub(at) / 2)),
            _ => margin,
        };
        self.expires_within(margin)
    }

    /// Whether the access token expires within `margin` (unknown expiry: never).
    pub fn expires_within(&self, margin: Duration) -> bool {
        self.expires_at
            .is_some_and(|at| at <= unix_now().saturating_add(margin.as_secs()))
    }
}

/// Everything kept for one protected resource.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCredentials {
    /// Client registrations, one per issuer.
    #[serde(default)]
    pub registrations: Vec<ClientRegistration>,
    /// The current tokens, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenSet>,
    /// The private DPoP key (base64url P-256 scalar) the tokens are bound to, when they are DPoP-bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<String>,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("registrations", &self.registrations)
            .field("tokens", &self.tokens)
            .field("has_dpop_key", &self.dpop_key.is_some())
            .finish()
    }
}

impl StoredCredentials {
    /// The registration for `issuer`.
    pub fn registration(&self, issuer: &str) -> Option<&ClientRegistration> {
        self.registrations.iter().find(|r| r.issuer == issuer)
    }

    /// Replace the registration for its issuer.
    pub fn set_registration(&mut self, reg: ClientRegistration) {
        self.registrations.retain(|r| r.issuer != reg.issuer);
        self.registrations.push(reg);
    }
}

/// Storage of credentials, keyed by the protected resource's canonical URI. Implement it to keep tokens in a
/// keychain, a database or a secret manager.
///
/// A store over a secret manager looks like this one, which keeps one JSON document per resource:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use futures::future::BoxFuture;
/// use mcp_client::auth::{OAuthClient, StoredCredentials, TokenStore};
/// use mcp_client::Error;
///
/// #[derive(Default)]
/// struct Vault(Mutex<HashMap<String, String>>);
///
/// impl TokenStore for Vault {
///     fn load<'a>(&'a self, resource: &'a str) -> BoxFuture<'a, Result<Option<StoredCredentials>, Error>> {
///         let doc = self.0.lock().unwrap().get(resource).cloned();
///         Box::pin(async move { Ok(doc.and_then(|d| serde_json::from_str(&d).ok())) })
///     }
///     fn save<'a>(&'a self, resource: &'a str, creds: &'a StoredCredentials) -> BoxFuture<'a, Result<(), Error>> {
///         let doc = serde_json::to_string(creds).expect("credentials serialize");
///         self.0.lock().unwrap().insert(resource.to_owned(), doc);
///         Box::pin(async { Ok(()) })
///     }
/// }
///
/// let oauth = OAuthClient::builder("https://mcp.example.com/mcp").store(Vault::default()).build();
/// # let _ = oauth;
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// What is stored for `resource`.
    fn load<'a>(
        &'a self,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredentials>, Error>>;
    /// Store `creds` for `resource`, replacing what was there.
    fn save<'a>(
        &'a self,
        resource: &'a str,
        creds: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<(), Error>>;
}

/// Credentials kept in memory for the life of the process (the default).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), mcp_client::Error> {
/// use mcp_client::auth::{MemoryTokenStore, StoredCredentials, TokenStore};
/// let store = MemoryTokenStore::new();
/// assert!(store.load("https://mcp.example.com/mcp").await?.is_none());
/// store.save("https://mcp.example.com/mcp", &StoredCredentials::default()).await?;
/// assert!(store.load("https://mcp.example.com/mcp").await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    map: Mutex<HashMap<String, StoredCredentials>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryTokenStore {
    fn load<'a>(
        &'a self,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredentials>, Error>> {
        let v = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(resource)
            .cloned();
        Box::pin(async move { Ok(v) })
    }
    fn save<'a>(
        &'a self,
        resource: &'a str,
        creds: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<(), Error>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(resource.to_owned(), creds.clone());
        Box::pin(async { Ok(()) })
    }
}

/// Credentials kept in a JSON file (one file, every resource), written atomically (a temporary file renamed
/// over the old one) and, on Unix, readable by the owner only. Suits command-line programs that should not
/// ask the user to log in on every run.
#[cfg(not(target_arch = "wasm32"))]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), mcp_client::Error> {
/// use mcp_client::auth::{FileTokenStore, OAuthClient, StoredCredentials, TokenStore};
/// let path = std::env::temp_dir().join(format!("mcp-tokens-{}.json", std::process::id()));
/// let store = FileTokenStore::new(&path);
/// store.save("https://mcp.example.com/mcp", &StoredCredentials::default()).await?;
/// // A later run reads what an earlier one saved.
/// assert!(FileTokenStore::new(&path).load("https://mcp.example.com/mcp").await?.is_some());
/// # std::fs::remove_file(&path).ok();
/// let oauth = OAuthClient::builder("https://mcp.example.com/mcp").store(FileTokenStore::new(&path)).build();
/// # let _ = oauth; Ok(()) }
/// ```
#[derive(Debug)]
pub struct FileTokenStore {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileTokenStore {
    /// A store in `path` (created on first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    async fn read_all(&self) -> Result<HashMap<String, StoredCredentials>, Error> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::auth(
                    AuthErrorKind::Storage,
                    format!("{} is not a token file: {e}", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(Error::auth(
                AuthErrorKind::Storage,
                format!("{}: {e}", self.path.display()),
            )),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl TokenStore for FileTokenStore {
    fn load<'a>(
        &'a self,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredentials>, Error>> {
        Box::pin(async move {
            let _g = self.lock.lock().await;
            Ok(self.read_all().await?.remove(resource))
        })
    }

    fn save<'a>(
        &'a self,
        resource: &'a str,
        creds: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let _g = self.lock.lock().await;
            let mut all = self.read_all().await?;
            all.insert(resource.to_owned(), creds.clone());
            let bytes = serde_json::to_vec_pretty(&all)
                .map_err(|e| Error::auth(AuthErrorKind::Storage, e.to_string()))?;
            let tmp = self.path.with_extension("tmp");
            let io = |e: std::io::Error| {
                Error::auth(AuthErrorKind::Storage, format!("{}: {e}", tmp.display()))
            };
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir).await.map_err(io)?;
            }
            let mut opts = tokio::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            opts.mode(0o600);
            let mut f = opts.open(&tmp).await.map_err(io)?;
            tokio::io::AsyncWriteExt::write_all(&mut f, &bytes)
                .await
                .map_err(io)?;
            f.sync_all().await.map_err(io)?;
            drop(f);
            tokio::fs::rename(&tmp, &self.path).await.map_err(io)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredCredentials {
        let mut c = StoredCredentials::default();
        c.set_registration(ClientRegistration {
            issuer: "https://as".into(),
            client_id: "id".into(),
            client_secret: Some("s3cret".into()),
            token_endpoint_auth_method: Some("client_secret_basic".into()),
        });
        c.tokens = Some(TokenSet {
            issuer: "https://as".into(),
            access_token: "at".into(),
            token_type: "Bearer".into(),
            refresh_token: Some("rt".into()),
            expires_at: Some(unix_now() + 10),
            issued_at: Some(unix_now()),
            scopes: vec!["a".into()],
        });
        c
    }

    #[tokio::test]
    async fn file_store_round_trips_and_is_private() {
        let dir = std::env::temp_dir().join(format!("mcp-token-store-{}", std::process::id()));
        let path = dir.join("tokens.json");
        let store = FileTokenStore::new(&path);
        assert_eq!(store.load("https://r").await.unwrap(), None);
        // One sample: two calls straddling a second boundary would differ in their timestamps.
        let creds = sample();
        store.save("https://r", &creds).await.unwrap();
        store
            .save("https://other", &StoredCredentials::default())
            .await
            .unwrap();
        let again = FileTokenStore::new(&path);
        assert_eq!(again.load("https://r").await.unwrap(), Some(creds));
        assert_eq!(
            again.load("https://other").await.unwrap(),
            Some(StoredCredentials::default())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "token file must not be readable by others");
        }
        std::fs::write(&path, b"not json").unwrap();
        let err = again.load("https://r").await.unwrap_err();
        assert_eq!(err.auth_kind(), Some(AuthErrorKind::Storage), "{err:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let s = format!("{:?}", sample());
        assert!(
            !s.contains("s3cret") && !s.contains("\"at\"") && !s.contains("rt\""),
            "{s}"
        );
    }

    #[test]
    fn expiry_margin() {
        let t = sample().tokens.unwrap();
        assert!(t.expires_within(Duration::from_secs(60)));
        assert!(!t.expires_within(Duration::ZERO));
        // A 10 s token just issued: a 60 s margin would renew it at once; half its lifetime does not.
        assert!(!t.needs_renewal(Duration::from_secs(60)));
        let old = TokenSet {
            issued_at: Some(unix_now() - 6),
            expires_at: Some(unix_now() + 4),
            ..t.clone()
        };
        assert!(old.needs_renewal(Duration::from_secs(60)));
        let unknown = TokenSet {
            issued_at: None,
            ..t
        };
        assert!(
            unknown.needs_renewal(Duration::from_secs(60)),
            "no issue time: the plain margin"
        );
    }
}
