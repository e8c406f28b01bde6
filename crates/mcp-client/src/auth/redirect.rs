//! Sending the user to the authorization URL and getting the redirect back.

#[cfg(feature = "oauth-loopback")]
use std::net::SocketAddr;
#[cfg(feature = "oauth-loopback")]
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(feature = "oauth-loopback")]
use bytes::Bytes;
use futures::future::BoxFuture;
#[cfg(feature = "oauth-loopback")]
use http_body_util::Full;
use reqwest::Url;
#[cfg(feature = "oauth-loopback")]
use tokio::net::TcpListener;
#[cfg(feature = "oauth-loopback")]
use tokio::sync::oneshot;

use crate::error::{AuthErrorKind, Error};

/// Takes the user through the authorization step: given the authorization URL, returns the URL the
/// authorization server redirected back to (carrying `code`, `state` and maybe `iss`, or an `error`).
///
/// Implementations must only open `http`/`https` URLs and never pass them through a shell.
///
/// A desktop application might open the system browser and wait for its own URL handler:
///
/// ```
/// use futures::future::BoxFuture;
/// use mcp_client::auth::{AuthErrorKind, Authorizer, OAuthClient};
/// use mcp_client::Error;
/// use reqwest::Url;
///
/// struct Browser { callbacks: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Url>> }
///
/// impl Authorizer for Browser {
///     fn redirect_uri(&self) -> &str { "myapp://oauth/callback" }
///     fn authorize(&self, authorization_url: Url) -> BoxFuture<'_, Result<Url, Error>> {
///         Box::pin(async move {
///             // Hand `authorization_url` to the platform's URL opener here (never to a shell).
///             let _ = authorization_url;
///             self.callbacks.lock().await.recv().await
///                 .ok_or_else(|| Error::from_auth(AuthErrorKind::Authorization, "the sign-in window was closed"))
///         })
///     }
/// }
///
/// let (_tx, rx) = tokio::sync::mpsc::channel(1);
/// let oauth = OAuthClient::builder("https://mcp.example.com/mcp")
///     .authorizer(Browser { callbacks: tokio::sync::Mutex::new(rx) })
///     .build();
/// # let _ = oauth;
/// ```
pub trait Authorizer: Send + Sync + 'static {
    /// The redirect URI registered for this client.
    fn redirect_uri(&self) -> &str;
    /// Send the user to `authorization_url` and return the callback URL the server redirected to.
    fn authorize(&self, authorization_url: Url) -> BoxFuture<'_, Result<Url, Error>>;
}

/// For automation against authorization servers that approve without a user (test servers, the conformance
/// suite, pre-consented machine clients): requests the authorization URL and reads the redirect's
/// `Location` instead of showing a browser.
///
/// ```
/// use mcp_client::auth::{HeadlessAuthorizer, OAuthClient};
/// let oauth = OAuthClient::builder("http://127.0.0.1:3000/mcp")
///     .authorizer(HeadlessAuthorizer::new("http://127.0.0.1:3000/callback"))
///     .build()
///     .unwrap();
/// # let _ = oauth;
/// ```
#[derive(Debug, Clone)]
pub struct HeadlessAuthorizer {
    redirect_uri: String,
    http: reqwest::Client,
}

impl HeadlessAuthorizer {
    /// An authorizer that expects to be redirected to `redirect_uri`.
    pub fn new(redirect_uri: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            redirect_uri: redirect_uri.into(),
            http,
        }
    }
}

impl Authorizer for HeadlessAuthorizer {
    fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    fn authorize(&self, authorization_url: Url) -> BoxFuture<'_, Result<Url, Error>> {
        Box::pin(async move {
            check_scheme(&authorization_url)?;
            let resp = self
                .http
                .get(authorization_url.clone())
                .send()
                .await
                .map_err(|e| {
                    Error::auth(
                        AuthErrorKind::Network,
                        format!("authorization request: {e}"),
                    )
                    .with_source(e)
                })?;
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Error::auth(
                        AuthErrorKind::Authorization,
                        format!(
                            "the authorization endpoint answered {} without a redirect",
                            resp.status()
                        ),
                    )
                })?;
            authorization_url.join(location).map_err(|e| {
                Error::auth(
                    AuthErrorKind::Authorization,
                    format!("bad redirect {location:?}: {e}"),
                )
            })
        })
    }
}

fn check_scheme(url: &Url) -> Result<(), Error> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(Error::auth(
            AuthErrorKind::Authorization,
            format!("refusing to open an authorization URL with scheme {other:?}"),
        )),
    }
}

/// For command-line programs: listens on a loopback port for the redirect, and shows the user the URL to
/// open (through a callback of your choice: print it, or hand it to a browser launcher).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_client::auth::LoopbackAuthorizer;
/// let authorizer = LoopbackAuthorizer::bind(0, |url| eprintln!("Open this URL to sign in: {url}")).await?;
/// println!("redirect URI to register: {}", mcp_client::auth::Authorizer::redirect_uri(&authorizer));
/// # Ok(()) }
/// ```
#[cfg(feature = "oauth-loopback")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth-loopback")))]
pub struct LoopbackAuthorizer {
    listener: Arc<tokio::sync::Mutex<TcpListener>>,
    redirect_uri: String,
    open: Box<dyn Fn(&Url) + Send + Sync>,
    timeout: Duration,
}

#[cfg(feature = "oauth-loopback")]
impl std::fmt::Debug for LoopbackAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackAuthorizer")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "oauth-loopback")]
impl LoopbackAuthorizer {
    /// Listen on `127.0.0.1:port` (0 picks a free port); `open` is called with each authorization URL.
    pub async fn bind(
        port: u16,
        open: impl Fn(&Url) + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(|e| {
                Error::auth(
                    AuthErrorKind::Authorization,
                    format!("cannot listen for the redirect: {e}"),
                )
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::auth(AuthErrorKind::Authorization, e.to_string()))?
            .port();
        Ok(Self {
            listener: Arc::new(tokio::sync::Mutex::new(listener)),
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
            open: Box::new(open),
            timeout: Duration::from_secs(300),
        })
    }

    /// How long to wait for the user (default 5 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

#[cfg(feature = "oauth-loopback")]
impl Authorizer for LoopbackAuthorizer {
    fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    fn authorize(&self, authorization_url: Url) -> BoxFuture<'_, Result<Url, Error>> {
        Box::pin(async move {
            check_scheme(&authorization_url)?;
            let listener = self.listener.clone().lock_owned().await;
            (self.open)(&authorization_url);
            let base = Url::parse(&self.redirect_uri)
                .map_err(|e| Error::auth(AuthErrorKind::Authorization, e.to_string()))?;
            tokio::time::timeout(self.timeout, accept_callback(&listener, &base))
                .await
                .map_err(|_| {
                    Error::auth(
                        AuthErrorKind::Authorization,
                        "timed out waiting for the redirect".into(),
                    )
                })?
        })
    }
}

/// Serve connections until one brings a request for the callback path; answer it with a short page.
#[cfg(feature = "oauth-loopback")]
async fn accept_callback(listener: &TcpListener, base: &Url) -> Result<Url, Error> {
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| {
            Error::auth(
                AuthErrorKind::Authorization,
                format!("accepting the redirect: {e}"),
            )
        })?;
        let (tx, rx) = oneshot::channel::<Url>();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let base = base.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let tx = tx.clone();
                let base = base.clone();
                async move {
                    let target = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/");
                    let found = base.join(target).ok().filter(|u| u.path() == base.path());
                    let (status, body) = match found {
                        Some(url) => {
                            if let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                                let _ = tx.send(url);
                            }
                            (200, "Authorization finished. You can close this window.")
                        }
                        None => (404, "Not found"),
                    };
                    let resp = hyper::Response::builder()
                        .status(status)
                        .header("content-type", "text/plain; charset=utf-8")
                        .body(Full::new(Bytes::from_static(body.as_bytes())))
                        .unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let _ = conn.await;
        if let Ok(url) = rx.await {
            return Ok(url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "oauth-loopback")]
    #[tokio::test]
    async fn loopback_returns_the_callback_url() {
        let seen = Arc::new(Mutex::new(None::<String>));
        let s = seen.clone();
        let auth = LoopbackAuthorizer::bind(0, move |u| *s.lock().unwrap() = Some(u.to_string()))
            .await
            .unwrap();
        let redirect = auth.redirect_uri().to_owned();
        let browser = tokio::spawn(async move {
            // A stray request first (a favicon), then the real redirect.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let base = Url::parse(&redirect).unwrap();
            let stray = reqwest::get(base.join("/favicon.ico").unwrap())
                .await
                .unwrap();
            assert_eq!(stray.status(), 404);
            let ok = reqwest::get(format!("{redirect}?code=abc&state=xyz"))
                .await
                .unwrap();
            assert_eq!(ok.status(), 200);
        });
        let url = auth
            .authorize(Url::parse("https://as.example/authorize?x=1").unwrap())
            .await
            .unwrap();
        browser.await.unwrap();
        assert_eq!(
            seen.lock().unwrap().as_deref(),
            Some("https://as.example/authorize?x=1")
        );
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["code"], "abc");
        assert_eq!(q["state"], "xyz");
    }

    #[tokio::test]
    async fn refuses_non_http_urls() {
        let auth = HeadlessAuthorizer::new("http://localhost/cb");
        let err = auth
            .authorize(Url::parse("file:///etc/passwd").unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err.auth_kind(),
            Some(AuthErrorKind::Authorization),
            "{err:?}"
        );
    }
}
