//! The OAuth grants without a user (client credentials with `private_key_jwt`, JWT-bearer from a workload
//! token or an enterprise IdP's ID-JAG) and DPoP sender-constrained tokens with server nonces, against a
//! hand-written server that plays authorization server, identity provider and MCP resource at once and
//! checks every request the way a strict server would.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{json, with_header, Body, Seen, TestHttp};
use mcp_client::auth::{
    ClientKey, FileAssertion, FixedAssertion, IdJagExchange, OAuthClient, PreRegistered,
};
use mcp_client::transport::HttpTransport;
use mcp_client::Client;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::{json, Value};
use sha2::Digest;

// A throwaway P-256 key pair generated for these tests only.
const CLIENT_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkbR5jSHQj2bzr/b6
RT+J1rYIrbuYhgtlaCk3jLFDsbChRANCAAQ+iZXJPyjUOFurLkwkRjZhFziUQfz3
CotEZSAMpztQF0fYz4d9gIgkAYp9I7PzsOoxI4q+gJ59aRsdxcm3KuP0
-----END PRIVATE KEY-----";
const CLIENT_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPomVyT8o1Dhbqy5MJEY2YRc4lEH8
9wqLRGUgDKc7UBdH2M+HfYCIJAGKfSOz87DqMSOKvoCefWkbHcXJtyrj9A==
-----END PUBLIC KEY-----";

/// The base URL of the test server (known only once it is bound).
type Base = Arc<OnceLock<String>>;
/// What the token endpoint answers, given the request, the base URL and how many came before.
type TokenFn = dyn Fn(&Seen, &str, usize) -> http::Response<Body> + Send + Sync;
/// How the MCP endpoint judges a request: the refusal to send, or `None` to serve it.
type GateFn = dyn Fn(&Seen, &str) -> Option<http::Response<Body>> + Send + Sync;

struct World {
    http: TestHttp,
    base: String,
}

impl World {
    async fn start(dpop: bool, token: Arc<TokenFn>, gate: Arc<GateFn>) -> Self {
        let base: Base = Arc::new(OnceLock::new());
        let b = base.clone();
        let token_calls = Arc::new(Mutex::new(0usize));
        let http = TestHttp::start(move |s: Seen| {
            let base = b.get().cloned().unwrap_or_default();
            let token = token.clone();
            let gate = gate.clone();
            let token_calls = token_calls.clone();
            async move {
                let path = s.path.split('?').next().unwrap_or_default().to_owned();
                match (s.method.as_str(), path.as_str()) {
                    ("GET", "/.well-known/oauth-protected-resource/mcp") => json(
                        200,
                        &json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]}),
                    ),
                    ("GET", "/.well-known/oauth-authorization-server") => {
                        let mut m = json!({
                            "issuer": base,
                            "authorization_endpoint": format!("{base}/authorize"),
                            "token_endpoint": format!("{base}/token"),
                            "response_types_supported": ["code"],
                            "grant_types_supported": ["authorization_code", "client_credentials",
                                "urn:ietf:params:oauth:grant-type:jwt-bearer"],
                            "code_challenge_methods_supported": ["S256"],
                            "token_endpoint_auth_methods_supported":
                                ["private_key_jwt", "client_secret_basic", "none"],
                        });
                        if dpop {
                            m["dpop_signing_alg_values_supported"] = json!(["ES256"]);
                        }
                        json(200, &m)
                    }
                    ("GET", "/authorize") => {
                        // Auto-approve: redirect with the code, the state and RFC 9207 `iss`.
                        let q: BTreeMap<String, String> =
                            url::form_urlencoded::parse(s.path.split_once('?').unwrap().1.as_bytes())
                                .into_owned()
                                .collect();
                        let to = format!(
                            "{}?code=c1&state={}&iss={}",
                            q["redirect_uri"],
                            q["state"],
                            url::form_urlencoded::byte_serialize(base.as_bytes()).collect::<String>()
                        );
                        with_header(common::full(302, None, ""), "location", &to)
                    }
                    ("POST", "/token") | ("POST", "/idp/token") => {
                        let n = {
                            let mut c = token_calls.lock().unwrap();
                            *c += 1;
                            *c - 1
                        };
                        token(&s, &base, n)
                    }
                    ("POST", "/mcp") => match gate(&s, &base) {
                        Some(refusal) => refusal,
                        None => mcp_answer(&s),
                    },
                    _ => common::full(404, None, ""),
                }
            }
        })
        .await;
        let url = http.url.trim_end_matches("/mcp").to_owned();
        base.set(url.clone()).unwrap();
        World { http, base: url }
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    fn at(&self, path: &str) -> Vec<Seen> {
        self.http
            .seen()
            .into_iter()
            .filter(|s| s.path.split('?').next() == Some(path))
            .collect()
    }
}

/// A modern MCP server's answers.
fn mcp_answer(s: &Seen) -> http::Response<Body> {
    let id = s.body["id"].clone();
    let ok = |r: Value| json(200, &json!({"jsonrpc": "2.0", "id": id, "result": r}));
    match s.rpc_method() {
        Some("server/discover") => ok(
            json!({"resultType": "complete", "supportedVersions": ["2026-07-28"],
            "capabilities": {"tools": {}},
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "protected", "version": "1"}}}),
        ),
        Some("tools/call") => ok(json!({"resultType": "complete",
            "content": [{"type": "text", "text": "secret"}]})),
        _ => json(
            404,
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}}),
        ),
    }
}

fn token_ok(token: &str, token_type: &str) -> http::Response<Body> {
    json(
        200,
        &json!({"access_token": token, "token_type": token_type, "expires_in": 3600}),
    )
}

fn oauth_error(status: u16, error: &str) -> http::Response<Body> {
    json(status, &json!({"error": error}))
}

/// 401 with a Bearer challenge unless the request carries `Bearer <token>`.
fn bearer_gate(token: &'static str) -> Arc<GateFn> {
    Arc::new(move |s: &Seen, base: &str| {
        if s.header("authorization") == Some(&format!("Bearer {token}")) {
            return None;
        }
        Some(with_header(
            json(401, &json!({"error": "unauthorized"})),
            "www-authenticate",
            &format!(
                r#"Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#
            ),
        ))
    })
}

async fn call_secret(url: &str, oauth: OAuthClient) -> Result<String, mcp_client::Error> {
    let transport = HttpTransport::builder(url).auth(oauth).build()?;
    let client = Client::builder().connect(transport).await?;
    let r = client.call_tool("read_secret", json!({})).await?;
    Ok(serde_json::to_value(&r).unwrap()["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test]
async fn client_credentials_with_a_private_key_jwt() {
    let token: Arc<TokenFn> = Arc::new(|s: &Seen, base: &str, _n: usize| {
        let f = s.form();
        assert_eq!(f["grant_type"], "client_credentials");
        assert_eq!(f["resource"], format!("{base}/mcp"));
        assert_eq!(
            f["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        assert!(s.header("authorization").is_none(), "no secret to send");
        // The assertion is signed with the client's key, for this issuer, by and about the client.
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&[base]);
        v.set_issuer(&["reporting-job"]);
        let claims = jsonwebtoken::decode::<Value>(
            &f["client_assertion"],
            &jsonwebtoken::DecodingKey::from_ec_pem(CLIENT_PUB.as_bytes()).unwrap(),
            &v,
        )
        .expect("a valid client assertion")
        .claims;
        assert_eq!(claims["sub"], "reporting-job");
        token_ok("cc-token", "Bearer")
    });
    let world = World::start(false, token, bearer_gate("cc-token")).await;
    let oauth = OAuthClient::builder(world.mcp_url())
        .pre_registered(PreRegistered {
            client_id: "reporting-job".into(),
            private_key: Some(ClientKey::from_pem(CLIENT_KEY, "ES256").unwrap()),
            ..Default::default()
        })
        .client_credentials()
        .build()
        .unwrap();
    assert_eq!(
        call_secret(&world.mcp_url(), oauth).await.unwrap(),
        "secret"
    );
    assert_eq!(world.at("/token").len(), 1);
    assert!(world.at("/authorize").is_empty(), "no user involved");
}

#[tokio::test]
async fn client_credentials_without_pre_registration_is_a_clear_error() {
    let token: Arc<TokenFn> = Arc::new(|_: &Seen, _: &str, _| token_ok("never", "Bearer"));
    let world = World::start(false, token, bearer_gate("never")).await;
    let oauth = OAuthClient::builder(world.mcp_url())
        .client_credentials()
        .build()
        .unwrap();
    let err = call_secret(&world.mcp_url(), oauth).await.unwrap_err();
    assert!(err.to_string().contains("pre-registered"), "{err}");
    assert!(world.at("/token").is_empty());
}

#[tokio::test]
async fn workload_identity_assertion_from_a_file() {
    let dir = std::env::temp_dir().join(format!("mcp-wif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "workload.jwt.value\n").unwrap();
    let token: Arc<TokenFn> = Arc::new(|s: &Seen, _: &str, _| {
        let f = s.form();
        assert_eq!(
            f["grant_type"],
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        );
        assert_eq!(f["client_id"], "ci-workload");
        if f["assertion"] == "workload.jwt.value" {
            token_ok("wif-token", "Bearer")
        } else {
            oauth_error(400, "invalid_grant")
        }
    });
    let world = World::start(false, token, bearer_gate("wif-token")).await;
    let oauth = OAuthClient::builder(world.mcp_url())
        .pre_registered(PreRegistered {
            client_id: "ci-workload".into(),
            ..Default::default()
        })
        .jwt_bearer(FileAssertion::new(&file))
        .build()
        .unwrap();
    assert_eq!(
        call_secret(&world.mcp_url(), oauth).await.unwrap(),
        "secret"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_refused_assertion_is_reported_and_never_retried() {
    let token: Arc<TokenFn> = Arc::new(|_: &Seen, _: &str, _| oauth_error(400, "invalid_grant"));
    let world = World::start(false, token, bearer_gate("never")).await;
    let oauth = OAuthClient::builder(world.mcp_url())
        .pre_registered(PreRegistered {
            client_id: "ci-workload".into(),
            ..Default::default()
        })
        .jwt_bearer(FixedAssertion::new("expired.jwt"))
        .build()
        .unwrap();
    let err = call_secret(&world.mcp_url(), oauth).await.unwrap_err();
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    assert_eq!(world.at("/token").len(), 1, "one attempt, one grant type");
    assert!(
        world.at("/authorize").is_empty(),
        "no fallback to a user flow"
    );
}

#[tokio::test]
async fn enterprise_managed_authorization_exchanges_an_id_token_for_an_id_jag() {
    let token: Arc<TokenFn> = Arc::new(|s: &Seen, base: &str, _| {
        let f = s.form();
        if s.path == "/idp/token" {
            assert_eq!(
                f["grant_type"],
                "urn:ietf:params:oauth:grant-type:token-exchange"
            );
            assert_eq!(f["subject_token"], "user-id-token");
            assert_eq!(
                f["subject_token_type"],
                "urn:ietf:params:oauth:token-type:id_token"
            );
            assert_eq!(
                f["requested_token_type"],
                "urn:ietf:params:oauth:token-type:id-jag"
            );
            assert_eq!(f["audience"], base, "the ID-JAG is for the MCP server's AS");
            assert_eq!(f["resource"], format!("{base}/mcp"));
            assert_eq!(f["client_id"], "idp-client");
            return json(
                200,
                &json!({"access_token": "the-id-jag", "token_type": "N_A",
                        "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag"}),
            );
        }
        assert_eq!(
            f["grant_type"],
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        );
        assert_eq!(f["assertion"], "the-id-jag");
        let basic = format!("Basic {}", STANDARD.encode("mcp-client:mcp-secret"));
        assert_eq!(s.header("authorization"), Some(basic.as_str()));
        token_ok("ema-token", "Bearer")
    });
    let world = World::start(false, token, bearer_gate("ema-token")).await;
    let oauth = OAuthClient::builder(world.mcp_url())
        .pre_registered(PreRegistered {
            client_id: "mcp-client".into(),
            client_secret: Some("mcp-secret".into()),
            ..Default::default()
        })
        .jwt_bearer(IdJagExchange::new(
            format!("{}/idp/token", world.base),
            "idp-client",
            FixedAssertion::new("user-id-token"),
        ))
        .build()
        .unwrap();
    assert_eq!(
        call_secret(&world.mcp_url(), oauth).await.unwrap(),
        "secret"
    );
    assert_eq!(world.at("/idp/token").len(), 1);
    assert_eq!(world.at("/token").len(), 1);
}

fn public_app() -> PreRegistered {
    PreRegistered {
        client_id: "desktop-app".into(),
        ..Default::default()
    }
}

/// A DPoP proof's header and claims, after checking its signature with the key it carries.
fn verified_proof(proof: &str) -> (Value, Value) {
    let parts: Vec<&str> = proof.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let decode =
        |p: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap() };
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    let coord = |c: &str| {
        URL_SAFE_NO_PAD
            .decode(header["jwk"][c].as_str().unwrap())
            .unwrap()
    };
    let mut sec1 = vec![4u8];
    sec1.extend(coord("x"));
    sec1.extend(coord("y"));
    let key = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
    let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the proof verifies with its own key");
    (header, claims)
}

#[tokio::test]
async fn dpop_bound_tokens_with_authorization_and_resource_server_nonces() {
    // The key the token was bound to, and every jti the resource server has seen.
    let bound_jwk: Arc<Mutex<Option<Value>>> = Arc::default();
    let jtis: Arc<Mutex<Vec<String>>> = Arc::default();
    let bound = bound_jwk.clone();
    let token: Arc<TokenFn> = Arc::new(move |s: &Seen, base: &str, _| {
        let (header, claims) =
            verified_proof(s.header("dpop").expect("a proof at the token endpoint"));
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], format!("{base}/token"));
        assert!(claims.get("ath").is_none(), "no token to hash yet");
        if claims["nonce"] != "as-nonce-1" {
            return with_header(
                oauth_error(400, "use_dpop_nonce"),
                "dpop-nonce",
                "as-nonce-1",
            );
        }
        *bound.lock().unwrap() = Some(header["jwk"].clone());
        token_ok("dpop-token", "DPoP")
    });
    let nonce_refusals: Arc<Mutex<usize>> = Arc::default();
    let (bound, seen_jtis, refusals) = (bound_jwk.clone(), jtis.clone(), nonce_refusals.clone());
    let gate: Arc<GateFn> = Arc::new(move |s: &Seen, base: &str| {
        let nonce_refusals = &refusals;
        let challenge = |extra: &str| {
            with_header(
                json(401, &json!({"error": "unauthorized"})),
                "www-authenticate",
                &format!(
                    r#"DPoP {extra}resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#
                ),
            )
        };
        let Some(auth) = s.header("authorization") else {
            return Some(challenge(""));
        };
        assert_eq!(auth, "DPoP dpop-token", "the DPoP scheme, never Bearer");
        let (header, claims) = verified_proof(s.header("dpop").expect("a proof with the token"));
        assert_eq!(
            Some(&header["jwk"]),
            bound.lock().unwrap().as_ref(),
            "the bound key"
        );
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], format!("{base}/mcp"));
        let ath = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(b"dpop-token"));
        assert_eq!(claims["ath"], ath);
        let jti = claims["jti"].as_str().unwrap().to_owned();
        let mut jtis = seen_jtis.lock().unwrap();
        assert!(!jtis.contains(&jti), "a fresh proof every time");
        jtis.push(jti);
        if claims["nonce"] != "rs-nonce-1" {
            *nonce_refusals.lock().unwrap() += 1;
            let mut r = challenge(r#"error="use_dpop_nonce", "#);
            r.headers_mut()
                .insert("dpop-nonce", "rs-nonce-1".parse().unwrap());
            return Some(r);
        }
        None
    });
    let world = World::start(true, token, gate).await;
    let oauth = OAuthClient::builder(world.mcp_url())
        .pre_registered(public_app())
        .build()
        .unwrap();
    let transport = HttpTransport::builder(world.mcp_url())
        .auth(oauth.clone())
        .build()
        .unwrap();
    let client = Client::builder().connect(transport).await.unwrap();
    for _ in 0..3 {
        client.call_tool("read_secret", json!({})).await.unwrap();
    }
    assert_eq!(oauth.tokens().unwrap().token_type, "DPoP");
    let tokens = world.at("/token");
    assert_eq!(
        tokens.len(),
        2,
        "challenged once for the nonce, then granted"
    );
    assert_eq!(tokens[1].form()["grant_type"], "authorization_code");
    // Only the first proof after the grant went without the server's nonce; every later one carried it.
    assert_eq!(*nonce_refusals.lock().unwrap(), 1);
    let mcp = world.at("/mcp");
    let tokenless = mcp
        .iter()
        .filter(|s| s.header("authorization").is_none())
        .count();
    assert_eq!(
        tokenless, 1,
        "only the very first request went without a token"
    );
    assert_eq!(
        jtis.lock().unwrap().len(),
        mcp.len() - 1,
        "every proof was checked"
    );
}

#[tokio::test]
async fn dpop_can_be_turned_off() {
    let token: Arc<TokenFn> = Arc::new(|s: &Seen, _: &str, _| {
        assert!(s.header("dpop").is_none());
        token_ok("plain", "Bearer")
    });
    let world = World::start(true, token, bearer_gate("plain")).await;
    let oauth = OAuthClient::builder(world.mcp_url())
        .pre_registered(public_app())
        .dpop(false)
        .build()
        .unwrap();
    assert_eq!(
        call_secret(&world.mcp_url(), oauth).await.unwrap(),
        "secret"
    );
}
