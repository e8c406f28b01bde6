//! Discovering the protected resource and its authorization server for a flow.

use reqwest::Url;

use super::inner::{Discovered, FlowState, Inner};
use crate::auth::metadata::{
    canonical_resource, discover_authorization_server, discover_resource, origin_string,
    AuthorizationServerMetadata,
};
use crate::auth::AuthErrorKind;
use crate::error::Error;

impl Inner {
    /// Discover the resource's authorization server and its metadata (always fetched afresh: a 401 may mean
    /// the resource moved to another authorization server).
    pub(super) async fn discover(
        &self,
        state: &mut FlowState,
        hint: Option<&str>,
    ) -> Result<Discovered, Error> {
        let prm = discover_resource(&self.http, &self.server, hint).await?;
        let d = match prm {
            Some(prm) => {
                let issuer = prm.authorization_servers.first().cloned().ok_or_else(|| {
                    Error::auth(
                        AuthErrorKind::Metadata,
                        "protected resource metadata lists no authorization server".into(),
                    )
                })?;
                let metadata = discover_authorization_server(&self.http, &issuer)
                    .await?
                    .ok_or_else(|| {
                        Error::auth(
                            AuthErrorKind::Metadata,
                            format!("no metadata found for issuer {issuer}"),
                        )
                    })?;
                Discovered {
                    resource: canonical_resource(
                        &Url::parse(&prm.resource).unwrap_or_else(|_| self.server.clone()),
                    ),
                    prm: Some(prm),
                    metadata,
                    from_document: true,
                }
            }
            None => {
                // A 2025-03-26 server: its authorization server is at its origin.
                let issuer = origin_string(&self.server);
                let found = discover_authorization_server(&self.http, &issuer).await?;
                let from_document = found.is_some();
                let origin = Url::parse(&issuer)
                    .map_err(|e| Error::auth(AuthErrorKind::Metadata, e.to_string()))?;
                Discovered {
                    prm: None,
                    metadata: found
                        .unwrap_or_else(|| AuthorizationServerMetadata::fallback(&origin)),
                    from_document,
                    resource: canonical_resource(&self.server),
                }
            }
        };
        state.discovered = Some(d.clone());
        Ok(d)
    }
}
