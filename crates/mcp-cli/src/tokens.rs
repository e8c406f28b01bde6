//! The sign-in file: registrations and tokens of every server signed in to, in one JSON file of the user's
//! config folder (`auth.json`, mode 0600), and the file locks that let several `mcp` processes share it.
//!
//! Two kinds of lock, both advisory `flock`s held by an open file (released when it closes, also when the
//! process dies):
//! - a lock per server (`locks/<name>.lock`), held around registration, sign-in and refresh, so that
//!   processes starting at once end with one registration and one sign-in: the others wait, then find the
//!   tokens in the file;
//! - a lock on the file itself (`auth.json.lock`), held only while it is read, changed and written back, so
//!   that sign-ins to different servers never lose each other's writes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use mcp_client::auth::{StoredCredentials, TokenStore};
use mcp_client::AuthErrorKind;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// How a server's tokens are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// A user signed in (browser, or a pasted redirect).
    AuthorizationCode,
    /// A machine client with its own id and secret.
    ClientCredentials,
}

/// The folder of the user's `mcp` files (sign-ins, shell history): `$MCP_CONFIG_DIR`, else
/// `<user config dir>/mcp`.
pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os("MCP_CONFIG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("mcp")))
}

/// What is kept for one server.
#[derive(Clone, Serialize, Deserialize)]
pub struct ServerEntry {
    /// The URL as the user gave it.
    pub url: String,
    /// How tokens are obtained (and renewed).
    pub grant: GrantKind,
    /// The redirect URI the client was registered with (authorization code only): a later sign-in listens
    /// on the same port, since authorization servers compare it with the registered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// The client id given with `--client-id` (client credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client secret read from `--client-secret-env` (client credentials): kept so that tokens are
    /// renewed without the variable; the file is readable by its owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The scopes given with `--scope`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Registrations, tokens and DPoP key, as the OAuth client keeps them.
    #[serde(default)]
    pub credentials: StoredCredentials,
}

impl ServerEntry {
    /// A new entry with no credentials yet.
    pub fn new(url: &str, grant: GrantKind) -> Self {
        Self {
            url: url.to_owned(),
            grant,
            redirect_uri: None,
            client_id: None,
            client_secret: None,
            scopes: Vec::new(),
            credentials: StoredCredentials::default(),
        }
    }
}

/// The whole file.
#[derive(Default, Serialize, Deserialize)]
pub struct AuthDoc {
    /// Entries by the server's canonical URI.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerEntry>,
}

/// Where the sign-in file and its locks live.
#[derive(Debug, Clone)]
pub struct AuthFile {
    dir: PathBuf,
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Held(#[allow(dead_code)] File);

fn storage(what: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("sign-in storage: {what}"))
}

impl AuthFile {
    /// In [`config_dir`].
    pub fn locate() -> Result<Self, CliError> {
        let dir = config_dir().ok_or_else(|| {
            storage("no config folder for this user; set MCP_CONFIG_DIR to choose one")
        })?;
        Ok(Self { dir })
    }

    /// In `dir` (tests).
    #[cfg(test)]
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The sign-in file.
    pub fn path(&self) -> PathBuf {
        self.dir.join("auth.json")
    }

    fn make_dir(&self, dir: &Path) -> Result<(), CliError> {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| storage(format!("{}: {e}", dir.display())))
    }

    fn open_lock(&self, path: &Path) -> Result<File, CliError> {
        if let Some(dir) = path.parent() {
            self.make_dir(dir)?;
        }
        let mut o = OpenOptions::new();
        o.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(path)
            .map_err(|e| storage(format!("{}: {e}", path.display())))
    }

    fn server_lock_path(&self, key: &str) -> PathBuf {
        // A readable name for people looking at the folder, and a hash so that two servers never share one.
        let readable: String = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(48)
            .collect();
        self.dir
            .join("locks")
            .join(format!("{readable}-{:016x}.lock", fnv1a(key.as_bytes())))
    }

    /// Take the lock of server `key`, waiting for the process that holds it (`waiting` is called once if
    /// it has to wait).
    ///
    /// # Cancel safety
    ///
    /// Cancelling the wait leaves a blocking thread waiting for the lock; it releases it as soon as it gets
    /// it (the file is closed when the thread's result is dropped).
    pub async fn lock_server(&self, key: &str, waiting: impl FnOnce()) -> Result<Held, CliError> {
        let path = self.server_lock_path(key);
        let file = self.open_lock(&path)?;
        match file.try_lock() {
            Ok(()) => return Ok(Held(file)),
            Err(TryLockError::WouldBlock) => waiting(),
            Err(TryLockError::Error(e)) => {
                return Err(storage(format!("locking {}: {e}", path.display())))
            }
        }
        tokio::task::spawn_blocking(move || file.lock().map(|()| Held(file)))
            .await
            .map_err(storage)?
            .map_err(|e| storage(format!("locking {}: {e}", path.display())))
    }

    /// The file's contents (empty when it does not exist yet).
    pub fn read(&self) -> Result<AuthDoc, CliError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                storage(format!(
                    "{} is not a sign-in file ({e}); remove it to start over",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AuthDoc::default()),
            Err(e) => Err(storage(format!("{}: {e}", path.display()))),
        }
    }

    /// Read the file, change it with `f`, and write it back (atomically: a private temporary file renamed
    /// over it), holding the file's lock throughout.
    ///
    /// The file is small and the lock is held for microseconds, so this blocks the caller's thread.
    pub fn update<R>(&self, f: impl FnOnce(&mut AuthDoc) -> R) -> Result<R, CliError> {
        let lock_path = self.dir.join("auth.json.lock");
        let lock = self.open_lock(&lock_path)?;
        lock.lock()
            .map_err(|e| storage(format!("locking {}: {e}", lock_path.display())))?;
        let mut doc = self.read()?;
        let r = f(&mut doc);
        let bytes = serde_json::to_vec_pretty(&doc).map_err(storage)?;
        let path = self.path();
        let tmp = self
            .dir
            .join(format!("auth.json.{}.tmp", std::process::id()));
        let io = |e: std::io::Error| storage(format!("{}: {e}", tmp.display()));
        let mut o = OpenOptions::new();
        o.write(true).create(true).truncate(true);
        // The tokens are secrets: the file is created readable by its owner only, never widened afterwards.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut file = o.open(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io)?;
        drop(lock);
        Ok(r)
    }
}

/// FNV-1a: a hash that is the same in every build (lock file names must agree across `mcp` versions).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The OAuth client's [`TokenStore`] over one entry of the sign-in file. Saving writes `template` with the
/// client's credentials in it, replacing the entry: nothing is written until the client has something to
/// keep, so a sign-in that fails early leaves the previous one as it was.
pub struct EntryStore {
    /// The file.
    pub file: Arc<AuthFile>,
    /// The entry, without its credentials.
    pub template: ServerEntry,
    /// What the first load returns instead of the file's credentials (a new sign-in starts from its own).
    pub seed: std::sync::Mutex<Option<StoredCredentials>>,
}

fn to_client_error(e: CliError) -> mcp_client::Error {
    mcp_client::Error::from_auth(AuthErrorKind::Storage, e.to_string())
}

impl TokenStore for EntryStore {
    fn load<'a>(
        &'a self,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredentials>, mcp_client::Error>> {
        let seed = self.seed.lock().unwrap_or_else(|p| p.into_inner()).take();
        let r = match seed {
            Some(creds) => Ok(Some(creds)),
            None => self
                .file
                .read()
                .map(|mut d| d.servers.remove(resource).map(|e| e.credentials))
                .map_err(to_client_error),
        };
        Box::pin(async move { r })
    }

    fn save<'a>(
        &'a self,
        resource: &'a str,
        creds: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<(), mcp_client::Error>> {
        let r = self
            .file
            .update(|d| {
                let mut entry = self.template.clone();
                entry.credentials = creds.clone();
                d.servers.insert(resource.to_owned(), entry);
            })
            .map_err(to_client_error);
        Box::pin(async move { r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mcp-cli-tokens-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn updates_are_private_and_keep_other_servers() {
        let dir = scratch("update");
        let f = AuthFile::at(&dir);
        f.update(|d| {
            d.servers.insert(
                "http://a/mcp".into(),
                ServerEntry::new("http://a/mcp", GrantKind::AuthorizationCode),
            );
        })
        .unwrap();
        f.update(|d| {
            d.servers.insert(
                "http://b/mcp".into(),
                ServerEntry::new("http://b/mcp", GrantKind::ClientCredentials),
            );
        })
        .unwrap();
        let doc = f.read().unwrap();
        assert_eq!(
            doc.servers.keys().collect::<Vec<_>>(),
            ["http://a/mcp", "http://b/mcp"]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_server_lock_makes_the_second_taker_wait() {
        let dir = scratch("lock");
        let f = AuthFile::at(&dir);
        let first = f
            .lock_server("http://a/mcp", || panic!("free"))
            .await
            .unwrap();
        let waited = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = waited.clone();
        let f2 = f.clone();
        let second = tokio::spawn(async move {
            f2.lock_server("http://a/mcp", move || {
                w.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .await
            .unwrap()
        });
        // Another server's lock is independent.
        let other = f.lock_server("http://b/mcp", || panic!("free")).await;
        assert!(other.is_ok());
        tokio::task::yield_now().await;
        drop(first);
        let _second = second.await.unwrap();
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
