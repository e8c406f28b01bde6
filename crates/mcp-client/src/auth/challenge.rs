//! Parsing `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3).

/// One challenge from a `WWW-Authenticate` header: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// The scheme, as sent (`Bearer`, `DPoP`, …); compare case-insensitively.
    pub scheme: String,
    /// The `name=value` parameters, names lowercased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `error` parameter (`invalid_token`, `insufficient_scope`, `use_dpop_nonce`, …).
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// The scopes of the `scope` parameter.
    pub fn scopes(&self) -> Vec<String> {
        self.param("scope").map(split_scopes).unwrap_or_default()
    }

    /// The `resource_metadata` URL (RFC 9728 §5.1).
    pub fn resource_metadata(&self) -> Option<&str> {
        self.param("resource_metadata")
    }

    /// Whether this is a challenge of `scheme` (case-insensitive).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// Split a space-separated scope string, dropping empty entries.
pub(crate) fn split_scopes(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parse every challenge in the given header values. Malformed input yields what could be read; it never
/// panics.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        parse_into(value, &mut out);
    }
    out
}

fn parse_into(s: &str, out: &mut Vec<Challenge>) {
    let b = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    let token_end = |mut i: usize| {
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b',' | b'=' | b'"') {
            i += 1;
        }
        i
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            return;
        }
        // A token: either a new scheme or a parameter name of the current challenge.
        let start = i;
        i = token_end(i);
        if i == start {
            // Stray quote or '=': skip one byte.
            i += 1;
            continue;
        }
        let token = &s[start..i];
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            // A parameter (token68 values such as `abc==` are not used by the schemes we read).
            j += 1;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            let (value, next) = if j < b.len() && b[j] == b'"' {
                read_quoted(s, j + 1)
            } else {
                let end = token_end(j);
                (s[j..end].to_owned(), end)
            };
            if let Some(c) = out.last_mut() {
                c.params.push((token.to_ascii_lowercase(), value));
            }
            i = next;
        } else {
            out.push(Challenge {
                scheme: token.to_owned(),
                params: Vec::new(),
            });
        }
    }
}

/// Read a quoted string starting just after the opening quote; returns the unescaped value and the index
/// after the closing quote (or the end).
fn read_quoted(s: &str, mut i: usize) -> (String, usize) {
    let b = s.as_bytes();
    let mut value = Vec::new();
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                value.push(b[i + 1]);
                i += 2;
            }
            b'"' => return (String::from_utf8_lossy(&value).into_owned(), i + 1),
            c => {
                value.push(c);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&value).into_owned(), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_parameters() {
        let c = parse_challenges([
            r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/.well-known/oauth-protected-resource/mcp", error_description="say \"hi\"""#,
        ]);
        assert_eq!(c.len(), 1);
        assert!(c[0].is("bearer"));
        assert_eq!(c[0].error(), Some("insufficient_scope"));
        assert_eq!(c[0].scopes(), vec!["a", "b"]);
        assert_eq!(
            c[0].resource_metadata(),
            Some("https://x/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c[0].param("ERROR_description"), Some(r#"say "hi""#));
    }

    #[test]
    fn reads_several_challenges_and_bare_schemes() {
        let c = parse_challenges([
            r#"DPoP algs="ES256 RS256", error="use_dpop_nonce", Bearer realm="x""#,
            "Basic",
        ]);
        let schemes: Vec<_> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["DPoP", "Bearer", "Basic"]);
        assert_eq!(c[0].param("algs"), Some("ES256 RS256"));
        assert_eq!(c[1].param("realm"), Some("x"));
    }

    #[test]
    fn survives_garbage() {
        for s in [
            "",
            "=",
            "\"",
            "Bearer =",
            "Bearer a=\"unterminated",
            ",,, ,",
            "Bearer a=b=c",
        ] {
            let _ = parse_challenges([s]);
        }
        let c = parse_challenges(["Bearer a=\"unterminated"]);
        assert_eq!(c[0].param("a"), Some("unterminated"));
    }
}
