//! The legacy session: taking the id from `initialize`, waiting for it, expiring it on 404, DELETE on close.

use mcp_rpc::rt;
use std::time::Duration;

use mcp_protocol::headers;
use mcp_protocol::types::methods;
use reqwest::{Method, StatusCode};

use super::inner::{Inner, SessionState};
use crate::error::{Error, Repr};

impl Inner {
    /// The session id a message goes with, waiting while a session is being (re-)established.
    pub(super) async fn session_for(
        &self,
        method: Option<&str>,
    ) -> Result<(Option<String>, u64), Error> {
        if method == Some(methods::INITIALIZE) {
            // `initialize` never carries a session id.
            return Ok((None, self.session.borrow().generation));
        }
        let bypass = method == Some(methods::NOTIF_INITIALIZED);
        let mut rx = self.session.subscribe();
        loop {
            let slot = rx.borrow_and_update().clone();
            match slot.state {
                SessionState::None => return Ok((None, slot.generation)),
                SessionState::Active(id) => return Ok((Some(id), slot.generation)),
                SessionState::Pending(id) if bypass => return Ok((id, slot.generation)),
                SessionState::Lost => {
                    return Err(Repr::SessionGone {
                        session_id: None,
                        generation: slot.generation,
                        unsent: None,
                    }
                    .into())
                }
                SessionState::Pending(_) | SessionState::Expired => {
                    tokio::select! {
                        r = rx.changed() => if r.is_err() { return Err(Error::closed()) },
                        _ = self.closed.cancelled() => return Err(Error::closed()),
                    }
                }
            }
        }
    }

    pub(super) fn capture_session(&self, resp: &reqwest::Response) {
        let id = resp
            .headers()
            .get(headers::SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        self.session.send_modify(|s| {
            s.state = SessionState::Pending(id);
            s.generation += 1;
        });
    }

    /// A 404 to a message that carried `sid`: drop the session if it is still the current one.
    pub(super) fn expire(&self, sid: &str) {
        self.session.send_if_modified(|s| match &s.state {
            SessionState::Active(cur) | SessionState::Pending(Some(cur)) if cur == sid => {
                tracing::info!(session = sid, "session expired (HTTP 404); dropping it");
                s.state = SessionState::Expired;
                true
            }
            _ => false,
        });
    }

    pub(super) async fn delete_session(&self) {
        let sid = {
            let mut sid = None;
            self.session.send_modify(|s| {
                if let SessionState::Active(id) | SessionState::Pending(Some(id)) = &s.state {
                    sid = Some(id.clone());
                }
                s.state = SessionState::None;
            });
            sid
        };
        let Some(sid) = sid else { return };
        let mut rb = self
            .http
            .delete(self.url.clone())
            .headers(self.headers.clone())
            .header(headers::SESSION_ID, sid.as_str());
        if let Some(v) = self.legacy_version() {
            rb = rb.header(headers::PROTOCOL_VERSION, v.as_str());
        }
        let rb = match self.authorize(&Method::DELETE, rb).await {
            Ok((rb, _)) => rb,
            Err(e) => {
                tracing::debug!(error = %e, "no credentials for the session DELETE");
                return;
            }
        };
        match rt::timeout(Duration::from_secs(5), rb.send()).await {
            Ok(Ok(r))
                if r.status().is_success()
                    || r.status() == StatusCode::METHOD_NOT_ALLOWED
                    || r.status() == StatusCode::NOT_FOUND => {}
            Ok(Ok(r)) => tracing::debug!(status = %r.status(), "DELETE of the session refused"),
            Ok(Err(e)) => tracing::debug!(error = %e, "DELETE of the session failed"),
            Err(_) => tracing::debug!("DELETE of the session timed out"),
        }
    }
}
