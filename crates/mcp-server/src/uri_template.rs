//! RFC 6570 URI templates, as far as resource templates need: `{var}` (one path segment's worth, no `/`),
//! `{+var}` (reserved expansion, may contain `/`), and `{?a,b}` / `{&a}` query expressions.
//!
//! Matching takes time linear in the URI (times the template's size, a constant of the server): a URI from
//! the network cannot make it backtrack. When a URI can be split several ways, each variable takes the longest
//! value that still lets the rest of the template match, the first variable first.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Var { name: String, reserved: bool },
    Query(Vec<String>),
}

/// A parsed template that can match URIs and extract their variables.
///
/// ```
/// use mcp_server::uri_template::UriTemplate;
///
/// let t = UriTemplate::parse("test://template/{id}/data").unwrap();
/// assert_eq!(t.matches("test://template/42/data").unwrap()["id"], "42");
/// assert!(t.matches("test://template/4/2/data").is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

/// One bit per position of the URI (0..=len).
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Self(vec![0; len / 64 + 1])
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
}

/// Characters a simple `{var}` stops at.
fn stops_simple(b: u8) -> bool {
    matches!(b, b'/' | b'?' | b'#')
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
        if !self.could_match(uri) {
            return None;
        }
        let s = uri.as_bytes();
        let n = s.len();
        // after[i]: the positions p from which parts[i + 1..] match uri[p..]. Built from the end backwards,
        // each part in one pass over the URI, so nothing is ever tried twice.
        let mut after: Vec<Bits> = Vec::with_capacity(self.parts.len());
        let mut next = Bits::new(n);
        next.set(n);
        for part in self.parts.iter().rev() {
            let mut cur = Bits::new(n);
            match part {
                Part::Literal(l) => {
                    let l = l.as_bytes();
                    for p in 0..=n.saturating_sub(l.len()) {
                        if next.get(p + l.len()) && s[p..].starts_with(l) {
                            cur.set(p);
                        }
                    }
                }
                Part::Query(_) => {
                    for p in 0..=n {
                        if next.get(p) || matches!(s.get(p), Some(b'?' | b'&')) {
                            cur.set(p);
                        }
                    }
                }
                Part::Var { reserved, .. } => {
                    // From p a variable can end at any e in (p, stop] where the rest matches from e; `nearest`
                    // is the smallest such e seen so far, `stop` where a simple variable must stop.
                    let mut nearest: Option<usize> = None;
                    let mut stop = n;
                    for p in (0..=n).rev() {
                        if !reserved && p < n && stops_simple(s[p]) {
                            stop = p;
                        }
                        if nearest.is_some_and(|e| e <= stop) {
                            cur.set(p);
                        }
                        if next.get(p) && uri.is_char_boundary(p) {
                            nearest = Some(p);
                        }
                    }
                }
            }
            after.push(std::mem::replace(&mut next, cur));
        }
        if !next.get(0) {
            return None;
        }
        after.reverse();
        // Walk forwards, giving each variable the longest value the rest of the template still accepts.
        let mut vars = HashMap::new();
        let mut p = 0;
        for (part, rest) in self.parts.iter().zip(&after) {
            match part {
                Part::Literal(l) => p += l.len(),
                Part::Query(names) => {
                    if matches!(s.get(p), Some(b'?' | b'&')) {
                        for pair in uri[p + 1..].split('&') {
                            if let Some((k, v)) = pair.split_once('=') {
                                if names.iter().any(|n| n == k) {
                                    vars.insert(k.to_owned(), v.to_owned());
                                }
                            }
                        }
                        return Some(vars);
                    }
                }
                Part::Var { name, reserved } => {
                    let limit = if *reserved {
                        n
                    } else {
                        s[p..]
                            .iter()
                            .position(|&b| stops_simple(b))
                            .map_or(n, |i| p + i)
                    };
                    // The backward pass proved such an end exists; `?` only keeps this total.
                    let end = (p + 1..=limit)
                        .rev()
                        .find(|&e| rest.get(e) && uri.is_char_boundary(e))?;
                    vars.insert(name.clone(), uri[p..end].to_owned());
                    p = end;
                }
            }
        }
        (p == n).then_some(vars)
    }

    /// A cheap test that rules most URIs out before any table is built: the leading literal must be a prefix,
    /// the trailing one a suffix, and the URI long enough (a query expression may take the rest of the URI,
    /// so what follows one is not required).
    fn could_match(&self, uri: &str) -> bool {
        // A query expression that finds its `?` takes the rest of the URI: only what comes before it counts.
        let min: usize = self
            .parts
            .iter()
            .take_while(|p| !matches!(p, Part::Query(_)))
            .map(|p| match p {
                Part::Literal(l) => l.len(),
                _ => 1,
            })
            .sum();
        if uri.len() < min {
            return false;
        }
        if let Some(Part::Literal(l)) = self.parts.first() {
            if !uri.starts_with(l.as_str()) {
                return false;
            }
        }
        let has_query = self.parts.iter().any(|p| matches!(p, Part::Query(_)));
        if let (false, Some(Part::Literal(l))) = (has_query, self.parts.last()) {
            if !uri.ends_with(l.as_str()) {
                return false;
            }
        }
        true
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

    /// The matcher this one replaced: plain backtracking, quadratic and worse on long URIs, but obviously
    /// right. The linear matcher must give the same answer on every input.
    fn reference(t: &UriTemplate, uri: &str) -> Option<HashMap<String, String>> {
        fn from(parts: &[Part], s: &str, vars: &mut HashMap<String, String>) -> bool {
            let Some(part) = parts.first() else {
                return s.is_empty();
            };
            match part {
                Part::Literal(l) => s
                    .strip_prefix(l.as_str())
                    .is_some_and(|r| from(&parts[1..], r, vars)),
                Part::Query(names) => {
                    let Some(q) = s.strip_prefix('?').or_else(|| s.strip_prefix('&')) else {
                        return from(&parts[1..], s, vars);
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
                        if from(&parts[1..], &s[end..], &mut attempt) {
                            *vars = attempt;
                            return true;
                        }
                    }
                    false
                }
            }
        }
        let mut vars = HashMap::new();
        from(&t.parts, uri, &mut vars).then_some(vars)
    }

    #[test]
    fn same_answers_as_backtracking_on_every_short_uri() {
        let templates = [
            "test://template/{id}/data",
            "file:///{+path}",
            "db://{table}{?limit}",
            "{a}{b}",
            "{+a}/{b}",
            "x{a}y{+b}y{c}",
            "{a}{?q,r}/z",
            "{+a}{+b}",
            "p{a}?{b}",
            "{a}é{b}",
            "{#f}x",
            "a{&q}",
        ];
        let alphabet = ['a', '/', '?', '&', '=', 'y', 'é', 'x', 'q', 'z'];
        let mut uris = vec![String::new()];
        let mut frontier = uris.clone();
        for _ in 0..5 {
            frontier = frontier
                .iter()
                .flat_map(|u| alphabet.iter().map(move |c| format!("{u}{c}")))
                .collect();
            uris.extend(frontier.iter().cloned());
        }
        let mut matched = 0;
        for t in templates {
            let t = UriTemplate::parse(t).unwrap();
            for u in &uris {
                let want = reference(&t, u);
                matched += usize::from(want.is_some());
                assert_eq!(t.matches(u), want, "{t:?} on {u:?}");
            }
            for u in [
                "test://template/123/data",
                "test://template/1/2/data",
                "file:///a/b/c.txt",
                "db://users?limit=5&x=1",
            ] {
                assert_eq!(t.matches(u), reference(&t, u), "{t:?} on {u:?}");
            }
        }
        assert!(
            matched > 1000,
            "the comparison covers matches too ({matched})"
        );
    }

    /// 4 MiB URIs, matching or not, are answered in milliseconds (tens of them on a loaded machine). The
    /// backtracking matcher took minutes on each.
    #[test]
    fn a_four_mib_uri_is_matched_in_linear_time() {
        let long = "a".repeat(4 << 20);
        let segments = "a/".repeat(2 << 20);
        let simple = UriTemplate::parse("test://template/{id}/data").unwrap();
        let path = UriTemplate::parse("file:///{+path}/{name}.txt").unwrap();
        let query = UriTemplate::parse("db://{table}{?limit}").unwrap();
        let cases = [
            (simple.clone(), format!("test://template/{long}/data"), true),
            (simple.clone(), format!("test://template/{long}/dat"), false),
            // Passes the prefix and suffix test: only the matcher proper can say no.
            (simple, format!("test://template/{long}/x/data"), false),
            (path.clone(), format!("file:///{segments}n.txt"), true),
            (path, format!("file:///{long}.txt"), false),
            (query.clone(), format!("db://{long}?limit=5"), true),
            (query, format!("db://{segments}?limit=5"), false),
        ];
        let (tx, rx) = std::sync::mpsc::channel();
        // On a thread, so a regression fails at the deadline instead of hanging the test run.
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let found: Vec<_> = cases.iter().map(|(t, u, _)| t.matches(u)).collect();
            let _ = tx.send((started.elapsed(), cases, found));
        });
        let bound = std::time::Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 5 });
        let (took, cases, found) = rx
            .recv_timeout(bound)
            .expect("matching 4 MiB URIs did not finish in time");
        assert!(took < bound, "took {took:?}");
        for ((_, uri, want), got) in cases.iter().zip(&found) {
            assert_eq!(got.is_some(), *want, "{}…", &uri[..20]);
        }
        assert_eq!(found[0].as_ref().unwrap()["id"].len(), 4 << 20);
        let hit = found[3].as_ref().unwrap();
        assert_eq!(
            (hit["path"].len(), hit["name"].as_str()),
            ((4 << 20) - 1, "n")
        );
        let hit = found[5].as_ref().unwrap();
        assert_eq!((hit["table"].len(), hit["limit"].as_str()), (4 << 20, "5"));
    }
}
