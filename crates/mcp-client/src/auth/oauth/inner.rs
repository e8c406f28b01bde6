//! The state behind an [`OAuthClient`]: configuration, what was discovered, the current flow, and
//! loading/saving it through the token store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;

use super::builder::{Grant, PreRegistered};
use crate::auth::dpop::DpopKey;
use crate::auth::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use crate::auth::redirect::Authorizer;
use crate::auth::store::{StoredCredentials, TokenSet, TokenStore};
use crate::error::Error;

/// Refresh access tokens this long before they expire.
pub(super) const REFRESH_MARGIN: Duration = Duration::from_secs(30);

pub(super) struct Inner {
    pub(super) server: Url,
    /// The store key: the server's canonical URI.
    pub(super) key: String,
    pub(super) client_name: String,
    pub(super) authorizer: Arc<dyn Authorizer>,
    pub(super) store: Arc<dyn TokenStore>,
    pub(super) http: reqwest::Client,
    pub(super) pre_registered: Vec<PreRegistered>,
    pub(super) client_metadata_url: Option<String>,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) offline_access: bool,
    pub(super) application_type: String,
    pub(super) grant: Grant,
    /// Whether DPoP may be used.
    pub(super) dpop: bool,
    /// The DPoP key of the current tokens (set when they are DPoP-bound).
    pub(super) dpop_key: Mutex<Option<DpopKey>>,
    /// The authorization server's latest DPoP nonce.
    pub(super) as_nonce: Mutex<Option<String>>,
    /// The resource server's latest DPoP nonce.
    pub(super) rs_nonce: Mutex<Option<String>>,
    /// The tokens in use, readable without waiting for a flow.
    pub(super) current: Mutex<Option<TokenSet>>,
    /// Whether the store has been read (until then requests wait for it).
    pub(super) loaded: std::sync::atomic::AtomicBool,
    /// Held while discovering, registering, authorizing or refreshing: one flow at a time.
    pub(super) flow: tokio::sync::Mutex<FlowState>,
}

#[derive(Default)]
pub(super) struct FlowState {
    pub(super) loaded: bool,
    pub(super) creds: StoredCredentials,
    /// What discovery found last.
    pub(super) discovered: Option<Discovered>,
    /// The scopes of the last authorization request.
    pub(super) requested: Vec<String>,
}

#[derive(Clone)]
pub(super) struct Discovered {
    pub(super) prm: Option<ProtectedResourceMetadata>,
    pub(super) metadata: AuthorizationServerMetadata,
    /// False for the 2025-03-26 default endpoints (no metadata document was found).
    pub(super) from_document: bool,
    /// The RFC 8707 `resource` to ask tokens for.
    pub(super) resource: String,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub(super) async fn load(&self, state: &mut FlowState) -> Result<(), Error> {
        if state.loaded {
            return Ok(());
        }
        if let Some(creds) = self.store.load(&self.key).await? {
            *lock(&self.current) = creds.tokens.clone();
            *lock(&self.dpop_key) = match creds.dpop_key.as_deref().map(DpopKey::import) {
                Some(Ok(k)) => Some(k),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "ignoring the stored DPoP key");
                    None
                }
                None => None,
            };
            state.creds = creds;
        }
        state.loaded = true;
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    pub(super) async fn save(&self, state: &mut FlowState) -> Result<(), Error> {
        *lock(&self.current) = state.creds.tokens.clone();
        self.store.save(&self.key, &state.creds).await
    }
}
