//! DNS-rebinding protection: `Host` and `Origin` checks.

use http::HeaderMap;

/// Which hosts and origins may reach the endpoint.
///
/// Serving a public name needs it named: the loopback default refuses any other `Host`.
///
/// ```
/// use mcp_server::http::{HostPolicy, HttpConfig};
/// let config = HttpConfig::default().host_policy(HostPolicy::AllowList {
///     hosts: vec!["mcp.example.com".into()],
///     origins: vec!["https://app.example.com".into()],
/// });
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HostPolicy {
    /// Only loopback names (`localhost`, `127.0.0.1`, `[::1]`), any port. The default, and right for a
    /// loopback bind.
    Loopback,
    /// These host names (without port) and these exact origins.
    AllowList {
        /// Allowed `Host` names, compared without the port, case-insensitively.
        hosts: Vec<String>,
        /// Allowed `Origin` values, exact (`https://app.example.com`).
        origins: Vec<String>,
    },
    /// No checks (behind a proxy that does them).
    Any,
}

fn is_loopback_host(host: &str) -> bool {
    let h = host_without_port(host);
    h.eq_ignore_ascii_case("localhost") || h == "127.0.0.1" || h == "[::1]" || h == "::1"
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.find(']') {
            Some(i) => &host[..i + 2],
            None => host,
        };
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn origin_host(origin: &str) -> Option<&str> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    Some(rest.split('/').next().unwrap_or(rest))
}

impl HostPolicy {
    /// Whether the request's `Host` and `Origin` pass.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        self.refusal(headers).is_none()
    }

    /// Why the request's `Host` or `Origin` does not pass: which header, its value, and the setting to
    /// change. `None` when both pass.
    pub(crate) fn refusal(&self, headers: &HeaderMap) -> Option<String> {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        self.refusal_of(text(http::header::HOST), text(http::header::ORIGIN))
    }

    /// [`refusal`](Self::refusal) for a request's `Host` and `Origin` values, already found.
    pub(crate) fn refusal_of(&self, host: Option<&str>, origin: Option<&str>) -> Option<String> {
        let (host_ok, origin_ok) = match self {
            Self::Any => (true, true),
            Self::Loopback => (
                host.is_none_or(is_loopback_host),
                origin.is_none_or(|o| o == "null" || origin_host(o).is_some_and(is_loopback_host)),
            ),
            Self::AllowList { hosts, origins } => (
                host.is_none_or(|h| {
                    hosts
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(host_without_port(h)))
                }),
                origin.is_none_or(|o| origins.iter().any(|a| a == o)),
            ),
        };
        let (header, value, list) = match (host_ok, origin_ok) {
            (true, true) => return None,
            (false, _) => ("Host", host.unwrap_or_default(), "hosts"),
            (true, false) => ("Origin", origin.unwrap_or_default(), "origins"),
        };
        let now = match self {
            Self::Loopback => "HostPolicy::Loopback, the default, which admits loopback names only",
            _ => "a HostPolicy::AllowList that does not list it",
        };
        Some(format!(
            "Forbidden: the {header} header {value:?} is not allowed by this endpoint's host_policy \
             (HttpConfig::host_policy, now {now}). This guards against DNS rebinding. To serve it, add it to \
             HostPolicy::AllowList {{ {list}, .. }}, or use HostPolicy::Any behind a proxy that checks \
             {header} itself",
            value = truncated(value),
        ))
    }
}

/// A header value as echoed in an error: at most 128 bytes.
fn truncated(v: &str) -> &str {
    let mut end = v.len().min(128);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(http::header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            m.insert(http::header::ORIGIN, o.parse().unwrap());
        }
        m
    }

    #[test]
    fn loopback_policy() {
        let p = HostPolicy::Loopback;
        assert!(p.allows(&h("localhost:3000", Some("http://localhost:3000"))));
        assert!(p.allows(&h("127.0.0.1:8080", None)));
        assert!(p.allows(&h("[::1]:80", Some("http://[::1]:80"))));
        assert!(!p.allows(&h("evil.example.com", Some("http://evil.example.com"))));
        assert!(!p.allows(&h("localhost:3000", Some("http://evil.example.com"))));
        assert!(!p.allows(&h("localhost.evil.com", None)));
    }

    #[test]
    fn allow_list_policy() {
        let p = HostPolicy::AllowList {
            hosts: vec!["mcp.example.com".into()],
            origins: vec!["https://app.example.com".into()],
        };
        assert!(p.allows(&h("mcp.example.com:443", Some("https://app.example.com"))));
        assert!(!p.allows(&h("mcp.example.com", Some("https://evil.com"))));
        assert!(!p.allows(&h("other.com", None)));
    }

    #[test]
    fn a_refusal_names_the_header_its_value_and_the_setting() {
        let r = HostPolicy::Loopback
            .refusal(&h("evil.example.com", Some("http://evil.example.com")))
            .unwrap();
        assert!(r.contains("Host header \"evil.example.com\""), "{r}");
        assert!(
            r.contains("host_policy") && r.contains("HostPolicy::Loopback"),
            "{r}"
        );
        assert!(r.contains("AllowList { hosts, .. }"), "{r}");
        let p = HostPolicy::AllowList {
            hosts: vec!["mcp.example.com".into()],
            origins: vec![],
        };
        let r = p
            .refusal(&h("mcp.example.com", Some("https://evil.com")))
            .unwrap();
        assert!(r.contains("Origin header \"https://evil.com\""), "{r}");
        assert!(r.contains("AllowList { origins, .. }"), "{r}");
        assert_eq!(p.refusal(&h("mcp.example.com", None)), None);
    }
}
