//! DNS-rebinding protection: `Host` and `Origin` checks.

use http::HeaderMap;

/// Which hosts and origins may reach the endpoint.
#[derive(Debug, Clone)]
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
        let host = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok());
        let origin = headers
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        match self {
            Self::Any => true,
            Self::Loopback => {
                host.is_none_or(is_loopback_host)
                    && origin
                        .is_none_or(|o| o == "null" || origin_host(o).is_some_and(is_loopback_host))
            }
            Self::AllowList { hosts, origins } => {
                host.is_none_or(|h| {
                    hosts
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(host_without_port(h)))
                }) && origin.is_none_or(|o| origins.iter().any(|a| a == o))
            }
        }
    }
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
}
