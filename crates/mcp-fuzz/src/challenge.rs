//! A `WWW-Authenticate` header, as the client reads a 401 or 403 (scheme, `scope`, `resource_metadata`...).

use mcp::client::auth::{parse_challenges, Challenge};

/// The challenges written back in the plainest form: `scheme name="value", ...`, one challenge after another.
fn write(challenges: &[Challenge]) -> String {
    challenges
        .iter()
        .map(|c| {
            let params: Vec<String> = c
                .params
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            if params.is_empty() {
                c.scheme.clone()
            } else {
                format!("{} {}", c.scheme, params.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whatever a server sends reads without panicking, and what was read, written plainly, reads back the same.
pub fn header(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // A header value may come as several lines of the same header: split on NUL to get several.
    let values: Vec<&str> = text.split('\0').collect();
    let read = parse_challenges(values.iter().copied());
    for c in &read {
        assert!(!c.scheme.is_empty(), "an empty scheme from {text:?}");
        // What the client asks of a challenge must not panic either.
        let _ = (c.error(), c.scopes(), c.resource_metadata(), c.is("bearer"));
    }
    let written = write(&read);
    assert_eq!(
        parse_challenges([written.as_str()]),
        read,
        "{text:?} written as {written:?}"
    );
}

/// Headers servers send, for seeds.
pub const SEEDS: &[&[u8]] = &[
    br#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#,
    br#"Bearer error="insufficient_scope", scope="admin", error_description="needs \"admin\"""#,
    b"DPoP algs=\"ES256 RS256\", error=use_dpop_nonce\0Bearer realm=example, Basic",
    b"Negotiate abc==, Bearer",
];

#[cfg(test)]
mod tests {
    #[test]
    fn challenges_read_back_the_same_once_written() {
        crate::mutate::run(super::SEEDS, 20_000, super::header);
    }
}
