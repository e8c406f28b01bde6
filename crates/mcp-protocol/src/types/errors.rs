//! Typed `data` of the MCP-specific JSON-RPC errors.

use serde::{Deserialize, Serialize};

use super::{ClientCapabilities, ElicitRequestParams};

/// `data` of -32021 MissingRequiredClientCapability (2026-07-28).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingRequiredClientCapabilityData {
    /// The capabilities the request needs.
    pub required_capabilities: ClientCapabilities,
}

/// `data` of -32022 UnsupportedProtocolVersion (2026-07-28).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnsupportedProtocolVersionData {
    /// Versions the server speaks; the client should retry with one of them.
    pub supported: Vec<String>,
    /// The version the client asked for.
    pub requested: String,
}

/// `data` of -32042 URLElicitationRequired (2025-11-25 only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UrlElicitationRequiredData {
    /// URL-mode elicitations the user must complete (each with `mode: "url"`).
    pub elicitations: Vec<ElicitRequestParams>,
}
