//! Protocol revisions, their eras, and version negotiation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A protocol revision this crate understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 2024-11-05: the first release (HTTP+SSE transport).
    V2024_11_05,
    /// 2025-03-26: Streamable HTTP, batching, OAuth.
    V2025_03_26,
    /// 2025-06-18: structured output, elicitation, `MCP-Protocol-Version` header.
    V2025_06_18,
    /// 2025-11-25: URL elicitation, tasks, SSE polling.
    V2025_11_25,
    /// 2026-07-28: stateless, `_meta` on every request, MRTR.
    V2026_07_28,
}

/// The two eras of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// `initialize` handshake, sessions, server→client requests (2024-11-05 … 2025-11-25).
    Legacy,
    /// Stateless, per-request `_meta`, multi round-trip requests (2026-07-28 onwards).
    Modern,
}

impl ProtocolVersion {
    /// Every revision, oldest first.
    pub const ALL: [ProtocolVersion; 5] = [
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
        Self::V2026_07_28,
    ];
    /// The newest revision.
    pub const LATEST: ProtocolVersion = Self::V2026_07_28;
    /// The newest legacy-era revision.
    pub const LATEST_LEGACY: ProtocolVersion = Self::V2025_11_25;

    /// The revision's date string as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// Which era this revision belongs to.
    pub const fn era(self) -> Era {
        match self {
            Self::V2026_07_28 => Era::Modern,
            _ => Era::Legacy,
        }
    }

    /// Whether JSON-RPC batches are allowed (only 2025-03-26).
    pub const fn allows_batches(self) -> bool {
        matches!(self, Self::V2025_03_26)
    }

    /// Whether tool input-validation errors are reported as `isError` results (2025-11-25 onwards).
    pub const fn input_errors_as_tool_results(self) -> bool {
        matches!(self, Self::V2025_11_25 | Self::V2026_07_28)
    }

    /// Legacy revisions, newest first (for negotiation).
    pub fn legacy_newest_first() -> impl Iterator<Item = ProtocolVersion> {
        Self::ALL
            .into_iter()
            .rev()
            .filter(|v| v.era() == Era::Legacy)
    }

    /// Legacy negotiation: echo the client's version if it is a legacy version we speak, else offer our newest
    /// legacy version.
    pub fn negotiate_legacy(requested: &str) -> ProtocolVersion {
        match requested.parse::<ProtocolVersion>() {
            Ok(v) if v.era() == Era::Legacy => v,
            _ => Self::LATEST_LEGACY,
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a version string this crate does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol version {0:?}")]
pub struct UnknownVersion(pub String);

impl FromStr for ProtocolVersion {
    type Err = UnknownVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVersion(s.to_owned()))
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        for v in ProtocolVersion::ALL {
            assert_eq!(v.as_str().parse::<ProtocolVersion>().unwrap(), v);
        }
        assert!(ProtocolVersion::V2025_03_26 < ProtocolVersion::V2026_07_28);
        assert_eq!(ProtocolVersion::LATEST.era(), Era::Modern);
        assert!("v999.0.0".parse::<ProtocolVersion>().is_err());
    }

    #[test]
    fn legacy_negotiation_echoes_or_offers_latest_legacy() {
        assert_eq!(
            ProtocolVersion::negotiate_legacy("2025-03-26"),
            ProtocolVersion::V2025_03_26
        );
        assert_eq!(
            ProtocolVersion::negotiate_legacy("2026-07-28"),
            ProtocolVersion::V2025_11_25
        );
        assert_eq!(
            ProtocolVersion::negotiate_legacy("1999-01-01"),
            ProtocolVersion::V2025_11_25
        );
    }
}
