//! The whole flow (discover, register, grant) and the authorization-code grant with PKCE.

use reqwest::Url;

use super::builder::Grant;
use super::inner::{lock, Discovered, FlowState, Inner};
use super::tokens::with_scope_and_resource;
use crate::auth::assertion::{AssertionRequest, JWT_BEARER_GRANT};
use crate::auth::challenge::Challenge;
use crate::auth::dpop::DpopKey;
use crate::auth::pkce::{random_token, Pkce};
use crate::auth::store::{ClientRegistration, TokenSet};
use crate::auth::token::TokenEndpoint;
use crate::auth::AuthErrorKind;
use crate::error::Error;

impl Inner {
    /// Discover, register if needed, and run the authorization code flow.
    pub(super) async fn full_flow(
        &self,
        state: &mut FlowState,
        challenge: Option<&Challenge>,
        scopes: &[String],
    ) -> Result<(), Error> {
        let d = self
            .discover(state, challenge.and_then(|c| c.resource_metadata()))
            .await?;
        let mut scopes = if scopes.is_empty() {
            self.initial_scopes(&d, challenge)
        } else {
            scopes.to_vec()
        };
        if self.offline_access
            && self.grant.interactive()
            && d.metadata.supports_scope("offline_access")
            && d.metadata.supports_grant("refresh_token")
            && !scopes.iter().any(|s| s == "offline_access")
        {
            scopes.push("offline_access".into());
        }
        // Tokens from another issuer are useless now (and must never be sent to it).
        if state
            .creds
            .tokens
            .as_ref()
            .is_some_and(|t| t.issuer != d.metadata.issuer)
        {
            state.creds.tokens = None;
        }
        let client = self.client_for(state, &d).await?;
        state.requested = scopes.clone();
        let dpop = self.dpop_key_for(state, &d.metadata);
        let endpoint = self.token_endpoint(&d, &client, dpop.as_ref());
        let tokens = match &self.grant {
            Grant::AuthorizationCode => {
                self.authorization_code(&d, &client, &endpoint, &scopes)
                    .await?
            }
            Grant::ClientCredentials => {
                let mut form = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
                with_scope_and_resource(&mut form, &scopes, &d.resource);
                let resp = endpoint.request(&form).await?;
                tracing::info!(issuer = %d.metadata.issuer, "client credentials granted");
                resp.into_token_set(&d.metadata.issuer, &scopes, None)
            }
            Grant::JwtBearer(source) => {
                let request = AssertionRequest {
                    issuer: d.metadata.issuer.clone(),
                    token_endpoint: d.metadata.token_endpoint.clone(),
                    resource: d.resource.clone(),
                    scopes: scopes.clone(),
                };
                let assertion = source.assertion(&self.http, &request).await?;
                let mut form = vec![
                    ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
                    ("assertion".into(), assertion),
                ];
                with_scope_and_resource(&mut form, &scopes, &d.resource);
                let resp = endpoint.request(&form).await?;
                tracing::info!(issuer = %d.metadata.issuer, "JWT-bearer grant accepted");
                resp.into_token_set(&d.metadata.issuer, &scopes, None)
            }
        };
        // The key goes with the tokens it is bound to (and is stored with them).
        let bound = tokens.token_type.eq_ignore_ascii_case("DPoP");
        state.creds.dpop_key = dpop.as_ref().filter(|_| bound).map(DpopKey::export);
        *lock(&self.dpop_key) = dpop.filter(|_| bound);
        state.creds.tokens = Some(tokens);
        self.save(state).await
    }

    /// The authorization code flow with PKCE; returns the tokens.
    pub(super) async fn authorization_code(
        &self,
        d: &Discovered,
        client: &ClientRegistration,
        endpoint: &TokenEndpoint<'_>,
        scopes: &[String],
    ) -> Result<TokenSet, Error> {
        let m = &d.metadata;
        if d.from_document
            && !m
                .code_challenge_methods_supported
                .as_ref()
                .is_some_and(|v| v.iter().any(|x| x == "S256"))
        {
            return Err(Error::auth(
                AuthErrorKind::Unsupported,
                format!(
                    "{} does not list PKCE S256 in code_challenge_methods_supported",
                    m.issuer
                ),
            ));
        }
        let authorize_at = m.authorization_endpoint.as_deref().ok_or_else(|| {
            Error::auth(
                AuthErrorKind::Unsupported,
                format!("{} has no authorization endpoint", m.issuer),
            )
        })?;
        let mut url = Url::parse(authorize_at).map_err(|e| {
            Error::auth(
                AuthErrorKind::Metadata,
                format!("authorization endpoint {authorize_at:?}: {e}"),
            )
        })?;
        let pkce = Pkce::new();
        let state = random_token();
        let redirect_uri = self.authorizer.redirect_uri().to_owned();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", &state)
                .append_pair("resource", &d.resource);
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
        }
        let callback = self.authorizer.authorize(url).await?;
        let params: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
        let one = |name: &str| -> Result<Option<&str>, Error> {
            let mut it = params.iter().filter(|(k, _)| k == name);
            let first = it.next().map(|(_, v)| v.as_str());
            if it.next().is_some() {
                return Err(Error::auth(
                    AuthErrorKind::Authorization,
                    format!("the authorization response repeats {name}"),
                ));
            }
            Ok(first)
        };
        // RFC 9207: the response must come from the authorization server the request went to. Checked
        // before anything else in the response is believed, errors included.
        match one("iss")? {
            Some(iss) if iss != m.issuer => {
                return Err(Error::auth(
                    AuthErrorKind::Authorization,
                    format!(
                        "the authorization response comes from issuer {iss:?}, expected {:?}",
                        m.issuer
                    ),
                ))
            }
            None if m.authorization_response_iss_parameter_supported == Some(true) => {
                return Err(Error::auth(
                    AuthErrorKind::Authorization,
                    "the authorization server promised an iss parameter but the response has none"
                        .into(),
                ))
            }
            _ => {}
        }
        if one("state")? != Some(state.as_str()) {
            return Err(Error::auth(
                AuthErrorKind::Authorization,
                "the authorization response's state does not match".into(),
            ));
        }
        if let Some(error) = one("error")? {
            let desc = one("error_description")?.unwrap_or_default();
            return Err(Error::auth(
                AuthErrorKind::Authorization,
                format!("{error} {desc}").trim().to_owned(),
            ));
        }
        let code = one("code")?
            .ok_or_else(|| {
                Error::auth(
                    AuthErrorKind::Authorization,
                    "the authorization response has no code".into(),
                )
            })?
            .to_owned();
        let form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".into(), code),
            ("redirect_uri".into(), redirect_uri),
            ("code_verifier".into(), pkce.verifier),
            ("resource".into(), d.resource.clone()),
        ];
        let resp = endpoint.request(&form).await?;
        tracing::info!(issuer = %m.issuer, "authorized");
        Ok(resp.into_token_set(&m.issuer, scopes, None))
    }
}
