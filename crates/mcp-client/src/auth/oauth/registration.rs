//! Client identity: pre-registered credentials, a client-id metadata document, or dynamic registration.

use serde_json::json;

use super::builder::PreRegistered;
use super::inner::{Discovered, FlowState, Inner};
use crate::auth::metadata::AuthorizationServerMetadata;
use crate::auth::store::ClientRegistration;
use crate::auth::AuthErrorKind;
use crate::error::Error;

impl Inner {
    /// The registration to use with `d`'s issuer, registering if there is none.
    pub(super) async fn client_for(
        &self,
        state: &mut FlowState,
        d: &Discovered,
    ) -> Result<ClientRegistration, Error> {
        let issuer = &d.metadata.issuer;
        let methods = d.metadata.token_endpoint_auth_methods_supported.as_deref();
        if let Some(p) = self
            .pre_registered
            .iter()
            .find(|p| p.issuer.as_deref() == Some(issuer))
        {
            return Ok(pre_registration(p, issuer, methods));
        }
        if let Some(r) = state.creds.registration(issuer) {
            return Ok(r.clone());
        }
        // Unbound pre-registered credentials go to the first issuer only.
        let bound_elsewhere = |p: &PreRegistered| {
            state
                .creds
                .registrations
                .iter()
                .any(|r| r.client_id == p.client_id)
        };
        if let Some(p) = self
            .pre_registered
            .iter()
            .find(|p| p.issuer.is_none() && !bound_elsewhere(p))
        {
            let reg = pre_registration(p, issuer, methods);
            state.creds.set_registration(reg.clone());
            return Ok(reg);
        }
        if !self.grant.interactive() {
            return Err(Error::auth(AuthErrorKind::Unsupported, format!(
                "the client credentials and JWT-bearer grants need credentials pre-registered with {issuer}"
            )));
        }
        if let (Some(url), Some(true)) = (
            &self.client_metadata_url,
            d.metadata.client_id_metadata_document_supported,
        ) {
            return Ok(ClientRegistration {
                issuer: issuer.clone(),
                client_id: url.clone(),
                client_secret: None,
                token_endpoint_auth_method: Some("none".into()),
            });
        }
        let Some(endpoint) = d.metadata.registration_endpoint.clone() else {
            return Err(Error::auth(AuthErrorKind::Unsupported, format!(
                "{issuer} offers no way to register this client (no pre-registered credentials, no Client ID \
                 Metadata Document support, no registration endpoint)"
            )));
        };
        let reg = self.register(&endpoint, &d.metadata).await?;
        state.creds.set_registration(reg.clone());
        self.save(state).await?;
        Ok(reg)
    }

    /// Dynamic Client Registration (RFC 7591).
    pub(super) async fn register(
        &self,
        endpoint: &str,
        metadata: &AuthorizationServerMetadata,
    ) -> Result<ClientRegistration, Error> {
        let mut grant_types = vec!["authorization_code"];
        if metadata.supports_grant("refresh_token") {
            grant_types.push("refresh_token");
        }
        let mut body = json!({
            "client_name": self.client_name,
            "redirect_uris": [self.authorizer.redirect_uri()],
            "grant_types": grant_types,
            "response_types": ["code"],
            "application_type": self.application_type,
        });
        if let Some(methods) = &metadata.token_endpoint_auth_methods_supported {
            let method = ["none", "client_secret_basic", "client_secret_post"]
                .into_iter()
                .find(|m| methods.iter().any(|x| x == m))
                .ok_or_else(|| {
                    Error::auth(
                        AuthErrorKind::Unsupported,
                        format!("no supported token endpoint authentication method in {methods:?}"),
                    )
                })?;
            body["token_endpoint_auth_method"] = json!(method);
        }
        let resp = self
            .http
            .post(endpoint)
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::auth(AuthErrorKind::Network, format!("registration: {e}")))?;
        let status = resp.status();
        let bytes = crate::auth::read_auth_body(resp, "registration").await?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<crate::auth::OAuthErrorResponse>(&bytes)
                .map(|e| e.to_string())
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(Error::auth(AuthErrorKind::Registration, detail));
        }
        #[derive(serde::Deserialize)]
        struct Registered {
            client_id: String,
            #[serde(default)]
            client_secret: Option<String>,
            #[serde(default)]
            token_endpoint_auth_method: Option<String>,
        }
        let r: Registered = serde_json::from_slice(&bytes).map_err(|e| {
            Error::auth(
                AuthErrorKind::Registration,
                format!("unreadable response: {e}"),
            )
        })?;
        tracing::info!(issuer = %metadata.issuer, client_id = %r.client_id, "client registered");
        Ok(ClientRegistration {
            issuer: metadata.issuer.clone(),
            client_id: r.client_id,
            token_endpoint_auth_method: r.token_endpoint_auth_method.or_else(|| {
                body["token_endpoint_auth_method"]
                    .as_str()
                    .map(str::to_owned)
            }),
            client_secret: r.client_secret,
        })
    }
}

pub(super) fn pre_registration(
    p: &PreRegistered,
    issuer: &str,
    methods: Option<&[String]>,
) -> ClientRegistration {
    let method =
        p.token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| match (&p.client_secret, methods) {
                _ if p.private_key.is_some() => "private_key_jwt".into(),
                (None, _) => "none".into(),
                (Some(_), Some(m))
                    if !m.iter().any(|x| x == "client_secret_basic")
                        && m.iter().any(|x| x == "client_secret_post") =>
                {
                    "client_secret_post".into()
                }
                (Some(_), _) => "client_secret_basic".into(),
            });
    ClientRegistration {
        issuer: issuer.to_owned(),
        client_id: p.client_id.clone(),
        client_secret: p.client_secret.clone(),
        token_endpoint_auth_method: Some(method),
    }
}
