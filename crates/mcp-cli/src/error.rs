//! The command's failures, each mapped to one exit code.

use mcp_client::ErrorKind;

/// Exit code of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit code of a usage error (bad flags, a malformed argument, an unknown server name or tool).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a connection failure (unreachable URL, a child that exits or cannot start, a timeout).
pub const EXIT_CONNECT: u8 = 3;
/// Exit code of a protocol or server error (a JSON-RPC error, a malformed answer).
pub const EXIT_PROTOCOL: u8 = 4;
/// Exit code of a tool result with `isError: true`.
pub const EXIT_TOOL_ERROR: u8 = 5;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line, a config file or an argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached, or the connection ended.
    #[error("{0}")]
    Connect(String),
    /// The server answered with an error, or broke the protocol.
    #[error("{0}")]
    Protocol(String),
    /// The tool ran and reported an error (`isError: true`).
    #[error("{0}")]
    Tool(String),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Connect(_) => EXIT_CONNECT,
            Self::Protocol(_) => EXIT_PROTOCOL,
            Self::Tool(_) => EXIT_TOOL_ERROR,
        }
    }

    /// A stable name for the failure, for `--json` error lines.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Usage(_) => "usage",
            Self::Connect(_) => "connection",
            Self::Protocol(_) => "protocol",
            Self::Tool(_) => "tool",
        }
    }

    /// A client error: connection trouble or a server's refusal.
    pub fn from_client(e: mcp_client::Error) -> Self {
        let mut msg = one_line(&e.to_string());
        // "error sending request" says little; the root cause ("Connection refused") says what to fix.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
        let mut root = None;
        while let Some(c) = cause {
            root = Some(c.to_string());
            cause = c.source();
        }
        if let Some(r) = root.filter(|r| !msg.contains(r.as_str())) {
            msg = format!("{msg}: {}", one_line(&r));
        }
        if let Some(rpc) = e.rpc_error() {
            return Self::Protocol(format!(
                "the server refused: {} (code {}){}",
                one_line(&rpc.message),
                rpc.code,
                missing_capability_hint(rpc)
            ));
        }
        match e.kind() {
            ErrorKind::Timeout
            | ErrorKind::Cancelled
            | ErrorKind::Closed
            | ErrorKind::SessionExpired
            | ErrorKind::Io
            | ErrorKind::Connect
            | ErrorKind::Network
            | ErrorKind::Unauthorized
            | ErrorKind::Auth
            | ErrorKind::Http => Self::Connect(msg),
            _ => Self::Protocol(msg),
        }
    }
}

/// For a -32021 refusal, which capability the server wanted and how `mcp` offers it.
fn missing_capability_hint(rpc: &mcp_protocol::ErrorObject) -> String {
    if rpc.code != mcp_protocol::error_code::MISSING_REQUIRED_CLIENT_CAPABILITY {
        return String::new();
    }
    let Some(required) = rpc
        .data
        .as_ref()
        .and_then(|d| d.get("requiredCapabilities"))
        .and_then(|r| r.as_object())
    else {
        return String::new();
    };
    let names: Vec<&str> = required.keys().map(String::as_str).collect();
    let how = if required.contains_key("sampling") {
        "; to answer its sampling requests give --sample-reply TEXT, or run at a terminal without --no-input"
    } else {
        ""
    };
    format!(": it needs {}{how}", names.join(", "))
}

/// `s` on one line: line breaks become spaces, so every error is one line on stderr.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_own_exit_code() {
        let codes = [
            CliError::Usage(String::new()).exit_code(),
            CliError::Connect(String::new()).exit_code(),
            CliError::Protocol(String::new()).exit_code(),
            CliError::Tool(String::new()).exit_code(),
        ];
        assert_eq!(codes, [2, 3, 4, 5]);
    }

    #[test]
    fn a_missing_sampling_capability_says_how_to_offer_it() {
        let rpc = mcp_protocol::ErrorObject::new(-32021, "Missing required client capability")
            .with_data(serde_json::json!({"requiredCapabilities": {"sampling": {}}}));
        let hint = missing_capability_hint(&rpc);
        assert!(
            hint.starts_with(": it needs sampling;") && hint.contains("--sample-reply"),
            "{hint}"
        );
        let roots = mcp_protocol::ErrorObject::new(-32021, "Missing")
            .with_data(serde_json::json!({"requiredCapabilities": {"roots": {}}}));
        assert_eq!(missing_capability_hint(&roots), ": it needs roots");
        assert_eq!(
            missing_capability_hint(&mcp_protocol::ErrorObject::new(-32602, "x")),
            ""
        );
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\n  b\r\nc"), "a b c");
    }
}
