//! `mcp.json`: the `mcpServers` file hosts use, and `${VAR}` expansion in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CliError;

/// A config file: `{"mcpServers": {"NAME": {...}}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigFile {
    /// The servers, by name.
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, ServerEntry>,
}

/// One server of a config file: a command to run, or a URL.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerEntry {
    /// The program of a stdio server.
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables for the child.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory of the child.
    pub cwd: Option<String>,
    /// The URL of a remote server.
    pub url: Option<String>,
    /// Headers sent to a remote server.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `stdio`, `http`, `streamable-http` or `sse` (the 2024-11-05 HTTP+SSE transport); inferred when absent.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Where the config is read from: `--config FILE`, else `./mcp.json`, else `<config dir>/mcp/mcp.json`.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_owned());
    }
    let local = PathBuf::from("mcp.json");
    if local.is_file() {
        return Some(local);
    }
    dirs::config_dir()
        .map(|d| d.join("mcp").join("mcp.json"))
        .filter(|p| p.is_file())
}

/// The config file: where it is, and what it says. `none` is the error when there is none.
fn read(explicit: Option<&Path>, none: &str) -> Result<(PathBuf, ConfigFile), CliError> {
    let path = locate(explicit).ok_or_else(|| {
        CliError::Usage(format!(
            "{none} (give --config FILE, or create ./mcp.json or {}); to run a command, put it after --",
            dirs::config_dir()
                .map(|d| d.join("mcp").join("mcp.json").display().to_string())
                .unwrap_or_else(|| "<config dir>/mcp/mcp.json".into())
        ))
    })?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let file: ConfigFile = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{} is not a valid config: {e}", path.display())))?;
    Ok((path, file))
}

/// The names of the config file's servers, in order.
pub fn server_names(explicit: Option<&Path>) -> Result<Vec<String>, CliError> {
    let (_, file) = read(
        explicit,
        "--all serves the servers of a config file, and there is none",
    )?;
    Ok(file.mcp_servers.into_keys().collect())
}

/// The entry `name` of the config file, with every `${VAR}` expanded from `env`.
pub fn lookup(
    explicit: Option<&Path>,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ServerEntry, CliError> {
    let (path, file) = read(
        explicit,
        &format!("{name:?} is not a URL and there is no config file to look it up in"),
    )?;
    let Some(entry) = file.mcp_servers.get(name) else {
        let known: Vec<&str> = file.mcp_servers.keys().map(String::as_str).collect();
        return Err(CliError::Usage(format!(
            "no server named {name:?} in {} (it has: {})",
            path.display(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )));
    };
    expand_entry(entry, env).map_err(|e| {
        CliError::Usage(format!(
            "server {name:?} in {}: {}",
            path.display(),
            match e {
                CliError::Usage(m) => m,
                other => other.to_string(),
            }
        ))
    })
}

fn expand_entry(
    e: &ServerEntry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ServerEntry, CliError> {
    let x = |s: &String| expand(s, env);
    let map = |m: &BTreeMap<String, String>| -> Result<BTreeMap<String, String>, CliError> {
        m.iter().map(|(k, v)| Ok((k.clone(), x(v)?))).collect()
    };
    Ok(ServerEntry {
        command: e.command.as_ref().map(x).transpose()?,
        args: e.args.iter().map(x).collect::<Result<_, _>>()?,
        env: map(&e.env)?,
        cwd: e.cwd.as_ref().map(x).transpose()?,
        url: e.url.as_ref().map(x).transpose()?,
        headers: map(&e.headers)?,
        kind: e.kind.clone(),
    })
}

/// Expand `${VAR}` and `${VAR:-default}` in `s`; `$$` is a literal `$`. A variable that is unset (and has no
/// default) is an error rather than an empty string, so a missing secret is never sent as "".
pub fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, CliError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| CliError::Usage(format!("unclosed ${{ in {s:?}")))?;
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(CliError::Usage(format!(
                    "bad variable name {name:?} in {s:?}"
                )));
            }
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(CliError::Usage(format!(
                        "environment variable {name} is not set"
                    )))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_defaults_and_dollars() {
        assert_eq!(expand("Bearer ${TOKEN}", &env).unwrap(), "Bearer s3cret");
        assert_eq!(expand("${NOPE:-x}-${EMPTY:-y}", &env).unwrap(), "x-y");
        assert_eq!(expand("$$5 and $HOME", &env).unwrap(), "$5 and $HOME");
    }

    #[test]
    fn an_unset_variable_is_an_error_not_an_empty_string() {
        let e = expand("${NOPE}", &env).unwrap_err();
        assert!(e.to_string().contains("NOPE"), "{e}");
        assert!(expand("${TOKEN", &env).is_err());
        assert!(expand("${A-B}", &env).is_err());
    }

    #[test]
    fn looks_up_a_server_and_expands_every_field() {
        let dir = std::env::temp_dir().join(format!("mcp-cli-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mcp.json");
        std::fs::write(
            &path,
            r#"{"mcpServers": {
                "local": {"command": "srv", "args": ["--key", "${TOKEN}"], "env": {"K": "${NOPE:-d}"}},
                "remote": {"url": "http://127.0.0.1:1/${TOKEN}", "headers": {"Authorization": "Bearer ${TOKEN}"}}
            }}"#,
        )
        .unwrap();
        let local = lookup(Some(&path), "local", &env).unwrap();
        assert_eq!(local.command.as_deref(), Some("srv"));
        assert_eq!(local.args, ["--key", "s3cret"]);
        assert_eq!(local.env["K"], "d");
        let remote = lookup(Some(&path), "remote", &env).unwrap();
        assert_eq!(remote.url.as_deref(), Some("http://127.0.0.1:1/s3cret"));
        assert_eq!(remote.headers["Authorization"], "Bearer s3cret");
        let missing = lookup(Some(&path), "other", &env).unwrap_err();
        assert!(missing.to_string().contains("local, remote"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
