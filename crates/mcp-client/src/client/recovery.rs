//! Legacy session recovery: one re-`initialize` after a 404, then the event stream, subscriptions and log
//! level restored.

use mcp_protocol::types::methods;
use mcp_protocol::Era;
use mcp_rpc::rt;
use serde_json::json;

use super::inner::{Inner, ReqCtx};
use super::options::{ClientEvent, VersionMode};
use crate::error::{Error, Repr};

impl Inner {
    /// Legacy session recovery, after a message carrying session generation `sent_generation` was refused.
    /// Concurrent callers share one re-initialization.
    pub(super) async fn recover(
        &self,
        old: Option<String>,
        sent_generation: u64,
    ) -> Result<(), Error> {
        if self.era() != Era::Legacy {
            return Err(Repr::SessionExpired {
                session_id: old,
                reason: "the server refused the request with 404 outside a legacy session".into(),
            }
            .into());
        }
        let guard = self.recovery.lock().await;
        if self.transport.session().generation > sent_generation {
            // Someone re-initialized after this message was sent: it can go again as it is.
            return Ok(());
        }
        if self.closed.is_cancelled() {
            return Err(Error::closed());
        }
        let (requested, strict) = {
            let s = self.state.read().unwrap_or_else(|p| p.into_inner());
            (
                s.requested_legacy,
                matches!(self.mode, VersionMode::Pinned(_)),
            )
        };
        let mut last_error = String::new();
        for attempt in 0..self.opts.recovery_attempts.max(1) {
            if attempt > 0 {
                let delay = self.opts.recovery_backoff * 2u32.saturating_pow(attempt - 1);
                rt::sleep(delay).await;
            }
            tracing::info!(old_session = ?old, attempt, "re-initializing the expired session");
            match self.initialize(requested, strict, true).await {
                Ok(server_info) => {
                    self.cache.clear();
                    self.restore_session_state().await;
                    drop(guard);
                    let new_session_id = self.transport.session().id;
                    let _ = self.events.send(ClientEvent::SessionRecovered {
                        old_session_id: old,
                        new_session_id,
                        server_info,
                    });
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "re-initialization failed");
                    last_error = e.to_string();
                }
            }
        }
        self.transport.session_lost();
        let _ = self.events.send(ClientEvent::SessionLost {
            session_id: old.clone(),
            reason: last_error.clone(),
        });
        Err(Repr::SessionExpired {
            session_id: old,
            reason: last_error,
        }
        .into())
    }

    /// Re-subscribe the resources the application subscribed and restore its log level on a new session.
    pub(super) async fn restore_session_state(&self) {
        let (subs, level) = {
            let s = self.state.read().unwrap_or_else(|p| p.into_inner());
            (s.subscriptions.clone(), s.log_level)
        };
        let ctx = ReqCtx {
            internal: true,
            ..Default::default()
        };
        for uri in subs {
            if let Err(e) = self
                .request(
                    methods::RESOURCES_SUBSCRIBE,
                    Some(json!({ "uri": uri })),
                    &ctx,
                )
                .await
            {
                tracing::warn!(%uri, error = %e, "could not restore a resource subscription");
            }
        }
        if let Some(level) = level {
            if let Err(e) = self
                .request(
                    methods::LOGGING_SET_LEVEL,
                    Some(json!({ "level": level })),
                    &ctx,
                )
                .await
            {
                tracing::warn!(error = %e, "could not restore the log level");
            }
        }
    }
}
