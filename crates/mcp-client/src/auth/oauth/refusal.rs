//! Reacting to a 401 or 403: refresh, step up the scopes, or run the whole flow again.

use super::inner::{lock, Inner};
use super::scopes::{pick_challenge, union};
use crate::auth::{AuthErrorKind, Error, Refusal};

impl Inner {
    pub(super) async fn refused(&self, refusal: &Refusal) -> Result<bool, Error> {
        // RFC 9449 §9: the resource server wants DPoP proofs to carry its nonce. Nothing else is wrong:
        // send the request again (a bounded number of times) with a proof that carries it.
        if refusal.status == 401
            && refusal
                .challenges
                .iter()
                .any(|c| c.is("DPoP") && c.error() == Some("use_dpop_nonce"))
        {
            if let Some(nonce) = &refusal.dpop_nonce {
                *lock(&self.rs_nonce) = Some(nonce.clone());
                if refusal.attempt >= 3 {
                    return Err(Error::auth(
                        AuthErrorKind::RetriesExhausted,
                        "the server keeps asking for a new DPoP nonce".into(),
                    ));
                }
                return Ok(true);
            }
        }
        let sent = refusal.access_token.clone();
        let mut state = self.flow.lock().await;
        self.load(&mut state).await?;
        // Another request already replaced the token this one was refused with: just retry.
        let now = lock(&self.current).as_ref().map(|t| t.access_token.clone());
        if now.is_some() && now != sent {
            return Ok(true);
        }
        let challenge = pick_challenge(&refusal.challenges);
        match refusal.status {
            401 => {
                // An expired token: refresh before bothering the user, but only once per request and only
                // with the authorization server that still protects the resource.
                if refusal.attempt == 0 {
                    let issuer = state
                        .creds
                        .tokens
                        .as_ref()
                        .and_then(|t| t.refresh_token.as_ref().map(|_| t.issuer.clone()));
                    if let Some(issuer) = issuer {
                        let hint = challenge.as_ref().and_then(|c| c.resource_metadata());
                        let current = self.discover(&mut state, hint).await?;
                        if current.metadata.issuer == issuer {
                            match self.refresh(&mut state, &issuer).await {
                                Ok(()) => return Ok(true),
                                Err(e) => {
                                    tracing::info!(error = %e, "refresh failed; re-authorizing")
                                }
                            }
                        }
                    }
                }
                if refusal.attempt >= 2 {
                    return Err(Error::auth(
                        AuthErrorKind::RetriesExhausted,
                        "the server keeps answering 401".into(),
                    ));
                }
                self.full_flow(&mut state, challenge.as_ref(), &[]).await?;
                Ok(true)
            }
            403 => {
                let Some(c) = challenge.filter(|c| c.error() == Some("insufficient_scope")) else {
                    return Ok(false);
                };
                let had = state
                    .creds
                    .tokens
                    .as_ref()
                    .map(|t| union(&t.scopes, &state.requested))
                    .unwrap_or_else(|| state.requested.clone());
                let wanted = union(&had, &c.scopes());
                // Asking again for what was just granted will not help more than once.
                if wanted.len() == had.len() && refusal.attempt >= 1 || refusal.attempt >= 3 {
                    return Err(Error::auth(
                        AuthErrorKind::RetriesExhausted,
                        format!(
                            "insufficient scope after re-authorizing with {:?}",
                            wanted.join(" ")
                        ),
                    ));
                }
                tracing::info!(scopes = %wanted.join(" "), "step-up authorization");
                self.full_flow(&mut state, Some(&c), &wanted).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
