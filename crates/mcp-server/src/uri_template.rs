//! RFC 6570 URI templates, as far as resource templates need: `{var}` (one path segment's worth, no `/`),
//! `{+var}` (reserved expansion, may contain `/`), and `{?a,b}` / `{&a}` query expressions.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Var { name: String, reserved: bool },
    Query(Vec<String>),
}

/// A parsed template that can match URIs and extract their variables.
#[derive(Debug, Clone, PartialEq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    /// Parse a template; `None` if braces do not balance.
    pub fn parse(t: &str) -> Option<Self> {
        let mut parts = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}')? + open;
            let expr = &rest[open + 1..close];
            let part = match expr.chars().next() {
                Some('+') | Some('#') => Part::Var {
                    name: expr[1..].to_owned(),
                    reserved: true,
                },
                Some('?') | Some('&') => {
                    Part::Query(expr[1..].split(',').map(str::to_owned).collect())
                }
                _ => Part::Var {
                    name: expr.to_owned(),
                    reserved: false,
                },
            };
            parts.push(part);
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return None;
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Some(Self { parts })
    }

    /// Match a URI, returning the variables (percent-decoding is left to the handler).
    pub fn matches(&self, uri: &str) -> Option<HashMap<String, String>> {
        let mut vars = HashMap::new();
        if self.match_from(0, uri, &mut vars) {
            Some(vars)
        } else {
            None
        }
    }

    fn match_from(&self, i: usize, s: &str, vars: &mut HashMap<String, String>) -> bool {
        let Some(part) = self.parts.get(i) else {
            return s.is_empty();
        };
        match part {
            Part::Literal(l) => s
                .strip_prefix(l.as_str())
                .is_some_and(|r| self.match_from(i + 1, r, vars)),
            Part::Query(names) => {
                let Some(q) = s.strip_prefix('?').or_else(|| s.strip_prefix('&')) else {
                    return self.match_from(i + 1, s, vars);
                };
                for pair in q.split('&') {
                    if let Some((k, v)) = pair.split_once('=') {
                        if names.iter().any(|n| n == k) {
                            vars.insert(k.to_owned(), v.to_owned());
                        }
                    }
                }
                true
            }
            Part::Var { name, reserved } => {
                // Try the longest candidate first, then shorter ones, so later literals can still match.
                let limit = if *reserved {
                    s.len()
                } else {
                    s.find(['/', '?', '#']).unwrap_or(s.len())
                };
                for end in (1..=limit).rev() {
                    if !s.is_char_boundary(end) {
                        continue;
                    }
                    let mut attempt = vars.clone();
                    attempt.insert(name.clone(), s[..end].to_owned());
                    if self.match_from(i + 1, &s[end..], &mut attempt) {
                        *vars = attempt;
                        return true;
                    }
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_simple_reserved_and_query() {
        let t = UriTemplate::parse("test://template/{id}/data").unwrap();
        assert_eq!(t.matches("test://template/123/data").unwrap()["id"], "123");
        assert!(t.matches("test://template/1/2/data").is_none());
        assert!(t.matches("test://template//data").is_none());
        let t = UriTemplate::parse("file:///{+path}").unwrap();
        assert_eq!(t.matches("file:///a/b/c.txt").unwrap()["path"], "a/b/c.txt");
        let t = UriTemplate::parse("db://{table}{?limit}").unwrap();
        let v = t.matches("db://users?limit=5").unwrap();
        assert_eq!((v["table"].as_str(), v["limit"].as_str()), ("users", "5"));
        assert!(UriTemplate::parse("bad}{").is_none());
    }
}
