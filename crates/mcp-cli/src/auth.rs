//! Signing in to servers that ask for OAuth: `mcp login`, `mcp logout`, `mcp auth list`, and the
//! credentials every other command sends to a signed-in server ([`StoredAuth`]).
//!
//! The OAuth work (discovery, registration, PKCE, token requests, DPoP) is `mcp_client`'s [`OAuthClient`];
//! this module decides where its tokens live (the sign-in file of [`crate::tokens`]) and makes several
//! `mcp` processes share them: every registration, sign-in and refresh runs under the server's file lock,
//! with the file read again once the lock is held, so a process that waited finds what the one before it
//! did and reuses it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Subcommand};
use futures::future::BoxFuture;
use mcp_client::auth::{
    canonical_resource, AuthProvider, Authorizer, LoopbackAuthorizer, OAuthClient, PreRegistered,
    Refusal, StoredCredentials, TokenSet,
};
use mcp_client::AuthErrorKind;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use crate::cli::Global;
use crate::error::CliError;
use crate::output;
use crate::tokens::{AuthFile, EntryStore, GrantKind, ServerEntry};

/// `mcp login`.
#[derive(Debug, Args, Clone)]
pub struct LoginArgs {
    /// The server's URL (or its name in mcp.json).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Do not open a browser: print the sign-in URL, then read the address the browser was sent back to
    /// (paste it from the browser's address bar).
    #[arg(long, conflicts_with = "client_credentials")]
    pub no_browser: bool,
    /// Sign in as a machine client (no user): the OAuth client credentials grant.
    #[arg(long, requires_all = ["client_id", "client_secret_env"])]
    pub client_credentials: bool,
    /// The client id, with --client-credentials.
    #[arg(long, value_name = "ID", requires = "client_credentials")]
    pub client_id: Option<String>,
    /// The environment variable holding the client secret, with --client-credentials (never on the
    /// command line, where other users could read it).
    #[arg(long, value_name = "VAR", requires = "client_credentials")]
    pub client_secret_env: Option<String>,
    /// A scope to ask for (repeatable; default: what the server asks for).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// The loopback port to receive the browser's redirect on (default: a free one, then the same one
    /// as long as the registration is kept).
    #[arg(long, value_name = "PORT", conflicts_with = "client_credentials")]
    pub port: Option<u16>,
}

/// `mcp logout`.
#[derive(Debug, Args, Clone)]
pub struct LogoutArgs {
    /// The server's URL (or its name in mcp.json); without it, every server.
    #[arg(value_name = "URL")]
    pub url: Option<String>,
}

/// `mcp auth`.
#[derive(Debug, Args, Clone)]
pub struct AuthArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// `mcp auth ...`.
#[derive(Debug, Subcommand, Clone)]
pub enum AuthCommand {
    /// The servers signed in to, with issuer, scopes and expiry (never the tokens).
    List,
}

/// Renew tokens this long before they expire, at most (the OAuth client renews 30 s before, or at half
/// the lifetime of a shorter-lived token; the lock is taken 5 s earlier still, so the client never
/// renews outside it).
const MARGIN_SECS: u64 = 30;
const LOCK_SLACK_SECS: u64 = 5;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Whether `t` is close enough to its expiry that using it may renew it.
fn due(t: &TokenSet) -> bool {
    let Some(exp) = t.expires_at else {
        return false;
    };
    let half = t.issued_at.map(|at| exp.saturating_sub(at) / 2);
    let margin = half.map_or(MARGIN_SECS, |h| h.min(MARGIN_SECS)) + LOCK_SLACK_SECS;
    exp <= unix_now().saturating_add(margin)
}

fn renewable(t: &TokenSet, grant: GrantKind) -> bool {
    t.refresh_token.is_some() || grant == GrantKind::ClientCredentials
}

/// The URL of `s`: itself, or the `url` of the `mcp.json` server named `s`.
fn resolve(s: &str, g: &Global) -> Result<String, CliError> {
    if s.contains("://") {
        return Ok(s.to_owned());
    }
    let entry = crate::config::lookup(g.config.as_deref(), s, &|k| std::env::var(k).ok())?;
    entry.url.ok_or_else(|| {
        CliError::Usage(format!(
            "server {s:?} is a command, not a URL: only remote servers sign in"
        ))
    })
}

fn server_url(s: &str) -> Result<Url, CliError> {
    let url = Url::parse(s).map_err(|e| CliError::Usage(format!("{s:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CliError::Usage(format!(
            "{s:?}: sign-in is for http:// and https:// servers"
        )));
    }
    Ok(url)
}

fn sign_in_error(url: &Url, e: mcp_client::Error) -> CliError {
    match CliError::from_client(e) {
        CliError::Connect(m) => CliError::Connect(format!("sign-in to {url} failed: {m}")),
        CliError::Protocol(m) => CliError::Protocol(format!("sign-in to {url} failed: {m}")),
        other => other,
    }
}

/// Asks the user to open the URL and paste the address the browser lands on.
struct PasteAuthorizer {
    redirect_uri: String,
}

impl Authorizer for PasteAuthorizer {
    fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    fn authorize(&self, authorization_url: Url) -> BoxFuture<'_, Result<Url, mcp_client::Error>> {
        Box::pin(async move {
            eprintln!("Open this URL in a browser and sign in:\n\n  {authorization_url}\n");
            eprintln!(
                "The browser is then sent to {} (the page may fail to load; that is expected).\n\
                 Paste that whole address here and press Enter:",
                self.redirect_uri
            );
            let expected = Url::parse(&self.redirect_uri).map_err(|e| {
                mcp_client::Error::from_auth(AuthErrorKind::Authorization, e.to_string())
            })?;
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            loop {
                let line = lines.next_line().await.map_err(|e| {
                    mcp_client::Error::from_auth(AuthErrorKind::Authorization, e.to_string())
                })?;
                let Some(line) = line else {
                    return Err(mcp_client::Error::from_auth(
                        AuthErrorKind::Authorization,
                        "no address was pasted (end of input)",
                    ));
                };
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                match Url::parse(line) {
                    Ok(u)
                        if u.origin() == expected.origin()
                            && u.path() == expected.path()
                            && u.query().is_some() =>
                    {
                        return Ok(u)
                    }
                    _ => eprintln!(
                        "That is not the address the browser was sent to (it starts with {}). Try again:",
                        self.redirect_uri
                    ),
                }
            }
        })
    }
}

/// For commands other than `mcp login`: a sign-in that cannot be renewed without the user ends the
/// command with the way out.
struct NeedsLogin {
    redirect_uri: String,
    url: String,
}

impl Authorizer for NeedsLogin {
    fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    fn authorize(&self, _: Url) -> BoxFuture<'_, Result<Url, mcp_client::Error>> {
        let msg = format!(
            "the sign-in to {} has expired; run `mcp login {}`",
            self.url, self.url
        );
        Box::pin(async move {
            Err(mcp_client::Error::from_auth(
                AuthErrorKind::Authorization,
                msg,
            ))
        })
    }
}

/// An OAuth client over `entry` of the sign-in file, with `authorizer` for a new authorization.
/// With `seed`, the client starts from those credentials instead of the file's.
fn oauth_client(
    url: &Url,
    file: &Arc<AuthFile>,
    entry: &ServerEntry,
    seed: Option<StoredCredentials>,
    authorizer: impl Authorizer,
) -> Result<OAuthClient, mcp_client::Error> {
    let mut template = entry.clone();
    template.credentials = StoredCredentials::default();
    let mut b = OAuthClient::builder(url.as_str())
        .client_name("mcp command line")
        .store(EntryStore {
            file: file.clone(),
            template,
            seed: Mutex::new(seed),
        })
        .authorizer(authorizer);
    if !entry.scopes.is_empty() {
        b = b.scopes(entry.scopes.clone());
    }
    if let (GrantKind::ClientCredentials, Some(id)) = (entry.grant, &entry.client_id) {
        b = b.client_credentials().pre_registered(PreRegistered {
            client_id: id.clone(),
            client_secret: entry.client_secret.clone(),
            ..Default::default()
        });
    }
    b.build()
}

fn waiting_message(url: &str) -> impl FnOnce() + '_ {
    move || eprintln!("Another mcp process is signing in to {url}; waiting for it to finish...")
}

/// `mcp login URL`.
pub async fn login(a: &LoginArgs, g: &Global) -> Result<(), CliError> {
    let given = resolve(&a.url, g)?;
    let a = &LoginArgs {
        url: given,
        ..a.clone()
    };
    let url = server_url(&a.url)?;
    let key = canonical_resource(&url);
    let grant = if a.client_credentials {
        GrantKind::ClientCredentials
    } else {
        GrantKind::AuthorizationCode
    };
    let secret = match &a.client_secret_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            CliError::Usage(format!(
                "--client-secret-env {var}: the environment variable {var} is not set"
            ))
        })?),
        None => None,
    };
    let file = Arc::new(AuthFile::locate()?);
    let access_token = |e: Option<&ServerEntry>| {
        e.and_then(|e| e.credentials.tokens.as_ref())
            .map(|t| t.access_token.clone())
    };
    let before = access_token(file.read()?.servers.get(&key));
    let waited = std::cell::Cell::new(false);
    let _held = file
        .lock_server(&key, || {
            waited.set(true);
            waiting_message(&a.url)()
        })
        .await?;
    let existing = file.read()?.servers.remove(&key);
    // Another process signed in while this one waited for the lock: use its tokens, not a second sign-in.
    if let Some(e) = existing.as_ref().filter(|e| {
        e.grant == grant && (grant == GrantKind::AuthorizationCode || e.client_id == a.client_id)
    }) {
        if let Some(t) = e.credentials.tokens.as_ref() {
            if waited.get() && access_token(Some(e)) != before {
                return report_signed_in(e, t, true, g);
            }
        }
    }
    let mut entry = match existing {
        // The registration (and its redirect URI) is kept from one sign-in to the next.
        Some(e) if e.grant == grant && grant == GrantKind::AuthorizationCode => e,
        _ => ServerEntry::new(&a.url, grant),
    };
    entry.url = a.url.clone();
    entry.scopes = a.scopes.clone();
    entry.client_id = a.client_id.clone();
    entry.client_secret = secret;
    let registered_port = entry
        .redirect_uri
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .and_then(|u| u.port())
        .filter(|_| !entry.credentials.registrations.is_empty());
    if a.port.is_some() && a.port != registered_port {
        // A new redirect URI needs a new registration.
        entry.credentials.registrations.clear();
    }
    let oauth = match grant {
        GrantKind::ClientCredentials => {
            let seed = Some(entry.credentials.clone());
            oauth_client(
                &url,
                &file,
                &entry,
                seed,
                NeedsLogin {
                    redirect_uri: "http://127.0.0.1/callback".into(),
                    url: a.url.clone(),
                },
            )
        }
        GrantKind::AuthorizationCode if a.no_browser => {
            let port = match a.port.or(registered_port) {
                Some(p) => p,
                None => free_port()?,
            };
            let redirect_uri = format!("http://127.0.0.1:{port}/callback");
            entry.redirect_uri = Some(redirect_uri.clone());
            let seed = Some(entry.credentials.clone());
            oauth_client(&url, &file, &entry, seed, PasteAuthorizer { redirect_uri })
        }
        GrantKind::AuthorizationCode => {
            let authorizer = browser_authorizer(&mut entry, a.port, &url).await?;
            let seed = Some(entry.credentials.clone());
            oauth_client(&url, &file, &entry, seed, authorizer)
        }
    }
    .map_err(|e| sign_in_error(&url, e))?;
    oauth
        .authorize()
        .await
        .map_err(|e| sign_in_error(&url, e))?;
    let entry = file.read()?.servers.remove(&key).ok_or_else(|| {
        CliError::Protocol(format!("sign-in to {url} finished but kept no tokens"))
    })?;
    let tokens =
        entry.credentials.tokens.clone().ok_or_else(|| {
            CliError::Protocol(format!("sign-in to {url} finished without tokens"))
        })?;
    report_signed_in(&entry, &tokens, false, g)
}

/// The browser flow's authorizer: opens the authorization URL in the user's browser (printing it too) and
/// takes the redirect on a loopback port: `port`, else the one the client was registered with (a new
/// registration when it is taken), else a free one. Sets `entry.redirect_uri`.
async fn browser_authorizer(
    entry: &mut ServerEntry,
    port: Option<u16>,
    url: &Url,
) -> Result<LoopbackAuthorizer, CliError> {
    let registered_port = entry
        .redirect_uri
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .and_then(|u| u.port())
        .filter(|_| !entry.credentials.registrations.is_empty());
    let open = |u: &Url| {
        eprintln!("Opening a browser to sign in. If none opens, visit this URL:\n\n  {u}\n");
        if let Err(e) = webbrowser::open(u.as_str()) {
            eprintln!(
                "(no browser could be opened: {e}; on a machine without one, use --no-browser)"
            );
        }
    };
    let authorizer =
        match LoopbackAuthorizer::bind(port.or(registered_port).unwrap_or(0), open).await {
            Ok(l) => l,
            Err(_) if port.is_none() && registered_port.is_some() => {
                // The registered port is taken: register again with another one.
                entry.credentials.registrations.clear();
                LoopbackAuthorizer::bind(0, open)
                    .await
                    .map_err(|e| sign_in_error(url, e))?
            }
            Err(e) => return Err(sign_in_error(url, e)),
        };
    entry.redirect_uri = Some(authorizer.redirect_uri().to_owned());
    Ok(authorizer)
}

fn free_port() -> Result<u16, CliError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| CliError::Connect(format!("no free loopback port for the redirect: {e}")))
}

fn grant_name(g: GrantKind) -> &'static str {
    match g {
        GrantKind::AuthorizationCode => "user",
        GrantKind::ClientCredentials => "client credentials",
    }
}

fn expiry(t: &TokenSet) -> String {
    match t.expires_at {
        None => "no expiry given".into(),
        Some(at) => {
            let now = unix_now();
            if at <= now {
                "expired".into()
            } else {
                let s = at - now;
                if s >= 5400 {
                    format!("in {} h", s / 3600)
                } else if s >= 90 {
                    format!("in {} min", s / 60)
                } else {
                    format!("in {s} s")
                }
            }
        }
    }
}

fn summary(e: &ServerEntry) -> serde_json::Value {
    let t = e.credentials.tokens.as_ref();
    json!({
        "server": e.url,
        "grant": e.grant,
        "clientId": e.client_id.clone().or_else(|| t.and_then(|t| e.credentials.registration(&t.issuer)).map(|r| r.client_id.clone())),
        "issuer": t.map(|t| t.issuer.clone()),
        "scopes": t.map(|t| t.scopes.clone()).unwrap_or_default(),
        "expiresAt": t.and_then(|t| t.expires_at),
        "renewable": t.is_some_and(|t| renewable(t, e.grant)),
        "signedIn": t.is_some(),
    })
}

fn report_signed_in(
    e: &ServerEntry,
    t: &TokenSet,
    reused: bool,
    g: &Global,
) -> Result<(), CliError> {
    if g.json {
        let mut v = summary(e);
        v["reused"] = json!(reused);
        return output::json(&v);
    }
    let how = if reused {
        " (another mcp process just signed in; its sign-in is shared)"
    } else {
        ""
    };
    out!("Signed in to {}{how}", e.url);
    out!("  issuer   {}", t.issuer);
    if !t.scopes.is_empty() {
        out!("  scopes   {}", t.scopes.join(" "));
    }
    out!(
        "  expires  {}{}",
        expiry(t),
        if renewable(t, e.grant) {
            ", renewed automatically"
        } else {
            ""
        }
    );
    Ok(())
}

/// `mcp logout [URL]`.
pub async fn logout(a: &LogoutArgs, g: &Global) -> Result<(), CliError> {
    let file = AuthFile::locate()?;
    let removed: Vec<ServerEntry> = match &a.url {
        Some(u) => {
            let u = &resolve(u, g)?;
            let url = server_url(u)?;
            let key = canonical_resource(&url);
            // Not in the middle of another process's sign-in or refresh, which would write it back.
            let _held = file.lock_server(&key, waiting_message(u)).await?;
            let gone = file.update(|d| d.servers.remove(&key))?;
            match gone {
                Some(e) => vec![e],
                None => return Err(CliError::Usage(format!("not signed in to {u}"))),
            }
        }
        None => {
            let keys: Vec<String> = file.read()?.servers.into_keys().collect();
            let mut all = Vec::new();
            for key in keys {
                let _held = file.lock_server(&key, waiting_message(&key)).await?;
                all.extend(file.update(|d| d.servers.remove(&key))?);
            }
            all
        }
    };
    if g.json {
        let v: Vec<&str> = removed.iter().map(|e| e.url.as_str()).collect();
        return output::json(&json!({ "signedOut": v }));
    }
    if removed.is_empty() {
        out!("Not signed in to any server.");
    }
    for e in &removed {
        out!(
            "Signed out of {} (its tokens are deleted from this computer)",
            e.url
        );
    }
    Ok(())
}

/// `mcp auth ...`.
pub async fn auth(a: &AuthArgs, g: &Global) -> Result<(), CliError> {
    match a.command {
        AuthCommand::List => {
            let file = AuthFile::locate()?;
            let doc = file.read()?;
            if g.json {
                let v: Vec<serde_json::Value> = doc.servers.values().map(summary).collect();
                return output::json(&json!({ "servers": v, "file": file.path() }));
            }
            if doc.servers.is_empty() {
                out!("Not signed in to any server (sign in with `mcp login URL`).");
                return Ok(());
            }
            let rows = doc
                .servers
                .values()
                .map(|e| {
                    let t = e.credentials.tokens.as_ref();
                    let who = match (e.grant, &e.client_id) {
                        (GrantKind::ClientCredentials, Some(id)) => format!("client {id}"),
                        (g, _) => grant_name(g).to_owned(),
                    };
                    vec![
                        e.url.clone(),
                        who,
                        t.map(|t| t.issuer.clone()).unwrap_or_default(),
                        t.map(|t| t.scopes.join(" ")).unwrap_or_default(),
                        t.map(expiry).unwrap_or_else(|| "not signed in".into()),
                        if t.is_some_and(|t| renewable(t, e.grant)) {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                    ]
                })
                .collect();
            output::table(
                &[
                    "SERVER",
                    "SIGNED IN AS",
                    "ISSUER",
                    "SCOPES",
                    "EXPIRES",
                    "RENEWABLE",
                ],
                rows,
            );
            Ok(())
        }
    }
}

/// The credentials of a signed-in server, for every command that talks to it: the stored access token,
/// renewed before it expires (under the server's lock, so that one process renews and the others reuse),
/// and a clear message when the server wants a sign-in that only `mcp login` can do.
pub struct StoredAuth {
    url: Url,
    key: String,
    file: Arc<AuthFile>,
    /// The OAuth client in use and the tokens it held after its last use: when the file holds other tokens
    /// (another process renewed them), a new client reads them.
    current: Mutex<Option<(OAuthClient, Option<TokenSet>)>>,
    /// Sign in with the browser when the server wants a sign-in that cannot be renewed without the user
    /// (otherwise the command ends with "run `mcp login URL`").
    browser: bool,
}

/// The credentials `mcp` sends to the server at `url`: its stored sign-in; when a person is at the terminal
/// (stdin and stderr are terminals, no `--no-input`), a browser sign-in when the server wants a new one.
pub fn provider(url: &str, g: &Global) -> Option<StoredAuth> {
    use std::io::IsTerminal;
    let person = !g.no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    StoredAuth::for_url(url).map(|a| a.browser_sign_in(person))
}

impl StoredAuth {
    /// Whether to sign in with the browser when needed (see [`provider`]); off by default.
    pub fn browser_sign_in(mut self, yes: bool) -> Self {
        self.browser = yes;
        self
    }

    /// The provider for `url`; `None` when it is not a URL or this user has no config folder.
    pub fn for_url(url: &str) -> Option<Self> {
        let url = Url::parse(url).ok()?;
        let file = AuthFile::locate().ok()?;
        Some(Self {
            key: canonical_resource(&url),
            url,
            file: Arc::new(file),
            current: Mutex::new(None),
            browser: false,
        })
    }

    fn entry(&self) -> Result<Option<ServerEntry>, mcp_client::Error> {
        self.file
            .read()
            .map(|mut d| d.servers.remove(&self.key))
            .map_err(|e| mcp_client::Error::from_auth(AuthErrorKind::Storage, e.to_string()))
    }

    fn fresh(&self, entry: &ServerEntry) -> Result<OAuthClient, mcp_client::Error> {
        let authorizer = NeedsLogin {
            redirect_uri: entry
                .redirect_uri
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1/callback".into()),
            url: entry.url.clone(),
        };
        oauth_client(&self.url, &self.file, entry, None, authorizer)
    }

    async fn lock(&self) -> Result<crate::tokens::Held, mcp_client::Error> {
        // Quietly: a refresh by another process takes milliseconds, and stderr may be a host's log.
        self.file
            .lock_server(&self.key, || {})
            .await
            .map_err(|e| mcp_client::Error::from_auth(AuthErrorKind::Storage, e.to_string()))
    }

    fn keep(&self, c: &OAuthClient) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((c.clone(), c.tokens()));
    }

    /// Under the server's lock: what the OAuth client does with `refusal` (refresh, or a new sign-in),
    /// with the browser to sign in.
    async fn browser_flow(
        &self,
        entry: Option<ServerEntry>,
        refusal: &Refusal,
    ) -> Result<bool, mcp_client::Error> {
        let mut entry = entry
            .unwrap_or_else(|| ServerEntry::new(self.url.as_str(), GrantKind::AuthorizationCode));
        let authorizer = browser_authorizer(&mut entry, None, &self.url)
            .await
            .map_err(|e| {
                mcp_client::Error::from_auth(AuthErrorKind::Authorization, e.to_string())
            })?;
        let seed = Some(entry.credentials.clone());
        let c = oauth_client(&self.url, &self.file, &entry, seed, authorizer)?;
        let r = c.refused(refusal).await;
        self.keep(&c);
        r
    }

    fn needs_login(&self) -> mcp_client::Error {
        mcp_client::Error::from_auth(
            AuthErrorKind::Authorization,
            format!(
                "this server wants you to sign in: run `mcp login {}` first",
                self.url
            ),
        )
    }
}

impl AuthProvider for StoredAuth {
    fn headers<'a>(
        &'a self,
        method: &'a Method,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<Vec<(HeaderName, HeaderValue)>, mcp_client::Error>> {
        Box::pin(async move {
            // An unreadable sign-in file must not break servers that need no sign-in: the request goes
            // without credentials, and if the server refuses it, `refused` reports the file's problem.
            let Ok(Some(entry)) = self.entry() else {
                return Ok(Vec::new());
            };
            let tokens = entry.credentials.tokens.clone();
            if tokens
                .as_ref()
                .is_some_and(|t| due(t) && renewable(t, entry.grant))
            {
                let _held = self.lock().await?;
                // Read again under the lock: the process that held it may have renewed them already.
                let Some(entry) = self.entry()? else {
                    return Ok(Vec::new());
                };
                let c = self.fresh(&entry)?;
                let h = c.headers(method, url).await;
                self.keep(&c);
                return h;
            }
            let held = self
                .current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .filter(|(_, seen)| *seen == tokens)
                .map(|(c, _)| c.clone());
            let c = match held {
                Some(c) => c,
                None => self.fresh(&entry)?,
            };
            let h = c.headers(method, url).await;
            self.keep(&c);
            h
        })
    }

    fn refused<'a>(
        &'a self,
        refusal: &'a Refusal,
    ) -> BoxFuture<'a, Result<bool, mcp_client::Error>> {
        Box::pin(async move {
            let nonce_only = refusal.status == 401
                && refusal
                    .challenges
                    .iter()
                    .any(|c| c.is("DPoP") && c.error() == Some("use_dpop_nonce"));
            if nonce_only {
                // Nothing to renew: the client retries with the server's new DPoP nonce.
                let held = self
                    .current
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .map(|(c, _)| c.clone());
                if let Some(c) = held {
                    return c.refused(refusal).await;
                }
            }
            let _held = self.lock().await?;
            let Some(entry) = self.entry()? else {
                if self.browser {
                    return self.browser_flow(None, refusal).await;
                }
                return Err(self.needs_login());
            };
            let stored = entry.credentials.tokens.as_ref();
            if stored.is_some_and(|t| refusal.access_token.as_deref() != Some(&t.access_token)) {
                // Another process renewed the tokens since this request was sent: retry with them (the
                // next request's headers read them from the file).
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
                return Ok(true);
            }
            if self.browser && entry.grant == GrantKind::AuthorizationCode {
                return self.browser_flow(Some(entry), refusal).await;
            }
            if entry.grant == GrantKind::AuthorizationCode
                && (entry.credentials.registrations.is_empty() || stored.is_none())
            {
                return Err(self.needs_login());
            }
            let c = self.fresh(&entry)?;
            let r = c.refused(refusal).await;
            self.keep(&c);
            r
        })
    }
}

/// Whether `headers` already carry credentials (then the stored sign-in is not used).
pub fn has_authorization(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(issued: u64, expires: u64, refresh: bool) -> TokenSet {
        TokenSet {
            issuer: "http://as".into(),
            access_token: "at".into(),
            token_type: "Bearer".into(),
            refresh_token: refresh.then(|| "rt".into()),
            expires_at: Some(expires),
            issued_at: Some(issued),
            scopes: vec![],
        }
    }

    #[test]
    fn the_lock_is_taken_before_the_client_would_renew() {
        let now = unix_now();
        // An hour-long token is used as is until 35 s before its end.
        assert!(!due(&tokens(now, now + 3600, true)));
        assert!(due(&tokens(now - 3600, now + 34, true)));
        // A 10 s token: the client renews at half its life (5 s left); the lock comes 5 s before.
        assert!(!due(&tokens(now, now + 11, true)));
        assert!(due(&tokens(now - 1, now + 9, true)));
        assert!(due(&tokens(now - 100, now - 1, false)));
        let t = tokens(now - 100, now - 1, false);
        assert!(!renewable(&t, GrantKind::AuthorizationCode));
        assert!(renewable(&t, GrantKind::ClientCredentials));
    }
}
