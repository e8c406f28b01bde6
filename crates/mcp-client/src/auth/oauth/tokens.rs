//! The token endpoint: client authentication, DPoP keys, refresh, and the `scope`/`resource` form fields.

use super::inner::{lock, Discovered, FlowState, Inner};
use crate::auth::dpop::{DpopKey, DPOP_ALG};
use crate::auth::metadata::AuthorizationServerMetadata;
use crate::auth::store::ClientRegistration;
use crate::auth::token::{TokenEndpoint, TokenFailure};
use crate::auth::AuthErrorKind;
use crate::error::Error;

impl Inner {
    /// The DPoP key to bind new tokens to, when DPoP is on and the authorization server supports ES256
    /// proofs: the one already held (so stored tokens and new ones share it), else a fresh one.
    pub(super) fn dpop_key_for(
        &self,
        state: &FlowState,
        metadata: &AuthorizationServerMetadata,
    ) -> Option<DpopKey> {
        let offered = metadata
            .dpop_signing_alg_values_supported
            .as_ref()
            .is_some_and(|algs| algs.iter().any(|a| a == DPOP_ALG));
        if !self.dpop || !offered {
            return None;
        }
        let held = lock(&self.dpop_key).clone().or_else(|| {
            state
                .creds
                .dpop_key
                .as_deref()
                .and_then(|k| DpopKey::import(k).ok())
        });
        Some(held.unwrap_or_else(DpopKey::generate))
    }

    pub(super) fn token_endpoint<'a>(
        &'a self,
        d: &'a Discovered,
        client: &'a ClientRegistration,
        dpop: Option<&'a DpopKey>,
    ) -> TokenEndpoint<'a> {
        TokenEndpoint {
            http: &self.http,
            url: &d.metadata.token_endpoint,
            issuer: &d.metadata.issuer,
            client,
            client_key: self
                .pre_registered
                .iter()
                .find(|p| p.client_id == client.client_id)
                .and_then(|p| p.private_key.as_ref()),
            dpop,
            dpop_nonce: &self.as_nonce,
        }
    }

    /// Refresh the tokens from `issuer` (whose registration is in the store).
    pub(super) async fn refresh(&self, state: &mut FlowState, issuer: &str) -> Result<(), Error> {
        let Some(old) = state.creds.tokens.clone().filter(|t| t.issuer == issuer) else {
            return Err(Error::auth(
                AuthErrorKind::Token,
                "no tokens from that issuer".into(),
            ));
        };
        let Some(refresh_token) = old.refresh_token.clone() else {
            return Err(Error::auth(AuthErrorKind::Token, "no refresh token".into()));
        };
        let client = state.creds.registration(issuer).cloned().ok_or_else(|| {
            Error::auth(
                AuthErrorKind::Token,
                "no registration for the issuer".into(),
            )
        })?;
        let d = match state
            .discovered
            .clone()
            .filter(|d| d.metadata.issuer == issuer)
        {
            Some(d) => d,
            None => self.discover(state, None).await?,
        };
        if d.metadata.issuer != issuer {
            return Err(Error::auth(
                AuthErrorKind::Token,
                "the resource moved to another issuer".into(),
            ));
        }
        let form = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".into(), refresh_token.clone()),
            ("resource".into(), d.resource.clone()),
        ];
        // A DPoP-bound refresh token must be presented with a proof of the same key (RFC 9449 §5).
        let dpop = lock(&self.dpop_key)
            .clone()
            .filter(|_| old.token_type.eq_ignore_ascii_case("DPoP"));
        let endpoint = self.token_endpoint(&d, &client, dpop.as_ref());
        match endpoint.request(&form).await {
            Ok(resp) => {
                state.creds.tokens =
                    Some(resp.into_token_set(issuer, &old.scopes, Some(refresh_token)));
                self.save(state).await?;
                tracing::debug!(issuer, "tokens refreshed");
                Ok(())
            }
            Err(TokenFailure::OAuth { error, .. }) if error.error == "invalid_grant" => {
                // The refresh token is dead: forget it so the next refusal re-authorizes.
                if let Some(t) = state.creds.tokens.as_mut() {
                    t.refresh_token = None;
                }
                self.save(state).await?;
                Err(Error::auth(
                    AuthErrorKind::Token,
                    format!("refresh refused: {error}"),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}

pub(super) fn with_scope_and_resource(
    form: &mut Vec<(String, String)>,
    scopes: &[String],
    resource: &str,
) {
    if !scopes.is_empty() {
        form.push(("scope".into(), scopes.join(" ")));
    }
    form.push(("resource".into(), resource.to_owned()));
}
