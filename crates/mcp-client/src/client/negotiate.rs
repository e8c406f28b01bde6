//! Era and version negotiation: `server/discover` probing, the legacy `initialize` handshake, version
//! fallback.

use std::time::Duration;

use mcp_protocol::types::{
    methods, DiscoverResult, Implementation, InitializeParams, InitializeResult,
    UnsupportedProtocolVersionData,
};
use mcp_protocol::{error_code, Era, ErrorObject, Message, Notification, ProtocolVersion};
use serde_json::Value;

use super::inner::{parse, Inner, ReqCtx};
use super::options::{CallOptions, VersionMode};
use crate::error::{Error, Repr};
use crate::transport::SendOptions;

impl Inner {
    pub(super) async fn negotiate(&self) -> Result<(), Error> {
        match self.mode {
            VersionMode::Legacy => {
                self.initialize(ProtocolVersion::LATEST_LEGACY, false, false)
                    .await?;
            }
            VersionMode::Pinned(v) if v.era() == Era::Legacy => {
                self.initialize(v, true, false).await?;
            }
            VersionMode::Pinned(v) => {
                self.set_modern(v);
                match self.discover_raw(self.opts.request_timeout).await {
                    Ok(v) => drop(self.absorb_discover(v)?),
                    Err(e)
                        if e.code()
                            .is_some_and(|c| c != error_code::UNSUPPORTED_PROTOCOL_VERSION) =>
                    {
                        tracing::warn!(error = %e, "server/discover failed; continuing without server capabilities")
                    }
                    Err(e) => return Err(e),
                }
            }
            VersionMode::Auto => {
                if self.probe().await? == Era::Legacy {
                    self.initialize(ProtocolVersion::LATEST_LEGACY, false, false)
                        .await?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn set_modern(&self, v: ProtocolVersion) {
        let mut s = self.state_mut();
        s.era = Era::Modern;
        s.version = v;
        drop(s);
        self.transport.set_legacy_version(None);
    }

    pub(super) async fn discover_raw(&self, timeout: Duration) -> Result<Value, Error> {
        let ctx = ReqCtx {
            call: CallOptions {
                timeout: Some(timeout),
                ..Default::default()
            },
            no_cancel_notice: true,
            ..Default::default()
        };
        self.request(methods::DISCOVER, None, &ctx).await
    }

    pub(super) fn absorb_discover(&self, v: Value) -> Result<DiscoverResult, Error> {
        check_complete(&v)?;
        if self.opts.cache {
            self.cache.put(
                methods::DISCOVER,
                "",
                self.transport.auth_context().as_deref(),
                &v,
            );
        }
        let d: DiscoverResult = parse(v)?;
        let mut s = self.state_mut();
        s.server_caps = d.capabilities.clone();
        s.instructions = d.instructions.clone();
        s.server_info = d.server_info();
        Ok(d)
    }

    /// The era probe: `server/discover`. A result or a modern error means modern; any other error, or no
    /// answer in time, means legacy.
    pub(super) async fn probe(&self) -> Result<Era, Error> {
        self.set_modern(ProtocolVersion::LATEST);
        match self
            .discover_raw(self.opts.probe_timeout)
            .await
            .map_err(Error::split_rpc)
        {
            Ok(v) => {
                self.absorb_discover(v)?;
                Ok(Era::Modern)
            }
            Err(Ok(e)) if e.code == error_code::UNSUPPORTED_PROTOCOL_VERSION => {
                // No modern version in common (the retry already tried one if there was).
                let legacy_offered = e
                    .data
                    .clone()
                    .and_then(|d| serde_json::from_value::<UnsupportedProtocolVersionData>(d).ok())
                    .is_some_and(|d| {
                        d.supported.iter().any(|v| {
                            v.parse::<ProtocolVersion>()
                                .is_ok_and(|v| v.era() == Era::Legacy)
                        })
                    });
                if legacy_offered {
                    Ok(Era::Legacy)
                } else {
                    Err(Error::rpc(e))
                }
            }
            Err(Ok(e))
                if e.code == error_code::HEADER_MISMATCH
                    || e.code == error_code::MISSING_REQUIRED_CLIENT_CAPABILITY =>
            {
                tracing::warn!(error = %e, "server/discover failed with a modern error; staying on the modern era");
                Ok(Era::Modern)
            }
            Err(Ok(e)) => {
                tracing::debug!(error = %e, "server/discover refused; falling back to initialize");
                Ok(Era::Legacy)
            }
            Err(Err(e)) if matches!(e.repr(), Repr::Timeout(_)) => {
                tracing::debug!("server/discover timed out; falling back to initialize");
                Ok(Era::Legacy)
            }
            Err(Err(e)) if matches!(e.repr(), Repr::Http { status, .. } if *status == 401 || *status == 403) => {
                Err(e)
            }
            Err(Err(e)) if matches!(e.repr(), Repr::Http { .. } | Repr::TransportProtocol(_)) => {
                tracing::debug!(error = %e, "server/discover not understood; falling back to initialize");
                Ok(Era::Legacy)
            }
            Err(Err(e)) => Err(e),
        }
    }

    /// Legacy `initialize` + `notifications/initialized`; also opens the event stream. Returns the server.
    pub(super) async fn initialize(
        &self,
        requested: ProtocolVersion,
        strict: bool,
        internal: bool,
    ) -> Result<Implementation, Error> {
        {
            let mut s = self.state_mut();
            s.era = Era::Legacy;
            s.requested_legacy = requested;
            if s.version.era() != Era::Legacy {
                s.version = requested;
            }
        }
        let params = InitializeParams {
            protocol_version: requested.as_str().to_owned(),
            capabilities: self.caps.clone(),
            client_info: self.info.clone(),
            meta: None,
        };
        let ctx = ReqCtx {
            internal,
            // `initialize` must not be cancelled.
            no_cancel_notice: true,
            ..Default::default()
        };
        let v = self
            .request(
                methods::INITIALIZE,
                Some(serde_json::to_value(params).unwrap_or_default()),
                &ctx,
            )
            .await?;
        let res: InitializeResult = parse(v)?;
        let version = match res.protocol_version.parse::<ProtocolVersion>() {
            Ok(v) if v.era() == Era::Legacy && (!strict || v == requested) => v,
            _ => {
                return Err(Error::protocol(format!(
                    "the server chose protocol version {:?}, which this client does not accept",
                    res.protocol_version
                )))
            }
        };
        {
            let mut s = self.state_mut();
            s.version = version;
            s.server_info = Some(res.server_info.clone());
            s.server_caps = res.capabilities.clone();
            s.instructions = res.instructions.clone();
        }
        self.transport.set_legacy_version(Some(version));
        let initialized =
            Message::Notification(Notification::new(methods::NOTIF_INITIALIZED, None));
        self.transport
            .send(initialized, SendOptions::default())
            .await?;
        self.transport.session_ready();
        self.transport.open_event_stream();
        Ok(res.server_info)
    }
}

/// The newest modern version both sides speak, from a -32022 error's `data.supported`.
pub(super) fn pick_modern(e: &ErrorObject) -> Option<ProtocolVersion> {
    let data: UnsupportedProtocolVersionData = serde_json::from_value(e.data.clone()?).ok()?;
    data.supported
        .iter()
        .filter_map(|v| v.parse::<ProtocolVersion>().ok())
        .filter(|v| v.era() == Era::Modern)
        .max()
}

/// A list or discover result must be complete.
pub(super) fn check_complete(v: &Value) -> Result<(), Error> {
    match v.get("resultType") {
        None => Ok(()),
        Some(Value::String(t)) if t == "complete" => Ok(()),
        Some(other) => Err(Error::invalid_result(format!(
            "unexpected resultType {other}"
        ))),
    }
}
