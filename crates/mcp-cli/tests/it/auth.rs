//! `mcp login`, `mcp logout`, `mcp auth list` and the stored sign-in, with the real binary against a real
//! (small) authorization server and our MCP server behind bearer-token protection, both on 127.0.0.1; and
//! `mcp bridge` to that server with the stored sign-in, driven by the Python SDK's stdio client (skipped
//! without the peers, see tests/peers) and by a host of our own.

use crate::common;
use crate::oauth_world;
use crate::peers;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{run, wait_timeout, Run};
use oauth_world::{World, ROBOT_ID, ROBOT_SECRET};
use serde_json::{json, Value};

/// A private config folder per test: the sign-in file lives there.
fn config_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mcp-cli-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mcp_in(dir: &Path, args: &[&str]) -> Command {
    let mut c = common::mcp(args);
    c.env("MCP_CONFIG_DIR", dir).env_remove("BROWSER");
    c
}

fn auth_file(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("auth.json")).unwrap()).unwrap()
}

/// The stored entry of the (only) server.
fn entry(dir: &Path) -> Value {
    let doc = auth_file(dir);
    let servers = doc["servers"].as_object().unwrap();
    assert_eq!(servers.len(), 1, "{doc}");
    servers.values().next().unwrap().clone()
}

/// Rewrite the stored tokens' expiry to the past (as if the process had slept past it).
fn expire_tokens(dir: &Path) {
    let mut doc = auth_file(dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for e in doc["servers"].as_object_mut().unwrap().values_mut() {
        let t = &mut e["credentials"]["tokens"];
        t["issued_at"] = (now - 100).into();
        t["expires_at"] = (now - 10).into();
    }
    std::fs::write(dir.join("auth.json"), doc.to_string()).unwrap();
}

/// Spawn `mcp ARGS` with stdin and stderr piped; stderr lines arrive on `lines` tagged with `tag`.
fn spawn_watched(
    mut cmd: Command,
    tag: usize,
    lines: mpsc::Sender<(usize, String)>,
) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = lines.send((tag, line));
        }
    });
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    (child, stdout)
}

/// The authorization URL a `--no-browser` sign-in printed.
fn authorization_url(line: &str) -> Option<String> {
    let l = line.trim();
    (l.starts_with("http") && l.contains("/authorize?")).then(|| l.to_owned())
}

/// `mcp login URL --no-browser`, approved by the test and the redirect pasted back. Returns its stdout.
fn login_pasting(world: &World, dir: &Path) -> String {
    let (tx, rx) = mpsc::channel();
    let (mut child, stdout) = spawn_watched(
        mcp_in(dir, &["login", &world.mcp_url, "--no-browser"]),
        0,
        tx,
    );
    let mut stderr = Vec::new();
    let url = loop {
        let Ok((_, line)) = rx.recv_timeout(Duration::from_secs(60)) else {
            let code = wait_timeout(&mut child, Duration::from_secs(1));
            panic!(
                "no sign-in URL printed: {stderr:?}, exit {code:?}, stdout {:?}",
                stdout.join()
            );
        };
        stderr.push(line.clone());
        if let Some(u) = authorization_url(&line) {
            break u;
        }
    };
    let redirect = world.approve(&url);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{redirect}").unwrap();
    let code = wait_timeout(&mut child, Duration::from_secs(60));
    stderr.extend(rx.try_iter().map(|(_, l)| l));
    let out = stdout.join().unwrap();
    assert_eq!(code, Some(0), "login failed: {out} {stderr:?}");
    assert!(out.contains("Signed in to"), "{out}");
    let all = format!("{out}{}", stderr.join("\n"));
    let token = entry(dir)["credentials"]["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!all.contains(&token), "the token was printed: {all}");
    out
}

fn assert_needs_login(r: &Run, url: &str) {
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(
        r.stderr.contains(&format!("mcp login {url}")),
        "the error should say how to sign in: {r:?}"
    );
}

#[test]
fn no_browser_sign_in_is_stored_privately_used_by_every_command_and_removed_by_logout() {
    let world = World::start(300);
    let dir = config_dir("paste");
    let url = world.mcp_url.clone();

    assert_needs_login(&run(mcp_in(&dir, &["tools", &url])), &url);
    assert_eq!(world.counts.get(), [0; 5], "no sign-in without mcp login");

    login_pasting(&world, &dir);
    // [registrations, authorizations, code exchanges, refreshes, client credentials]
    assert_eq!(world.counts.get(), [1, 1, 1, 0, 0]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("auth.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }
    let stored = entry(&dir);
    let token = stored["credentials"]["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(world.issued(&token));

    let tools = run(mcp_in(&dir, &["tools", &url, "--json"]));
    assert_eq!(tools.code, Some(0), "{tools:?}");
    assert_eq!(tools.json()["tools"][0]["name"], "whoami");
    // A server named in mcp.json uses the sign-in of its URL.
    let cfg = dir.join("servers.json");
    std::fs::write(
        &cfg,
        serde_json::json!({"mcpServers": {"protected": {"url": url}}}).to_string(),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let named = run(mcp_in(&dir, &["tools", "protected", "--config", cfg]));
    assert_eq!(named.code, Some(0), "{named:?}");
    assert!(named.stdout.contains("whoami"), "{named:?}");
    let who = run(mcp_in(&dir, &["call", &url, "whoami", "--json"]));
    assert_eq!(who.code, Some(0), "{who:?}");
    let text = who.json()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.starts_with("user-1 via client-"), "{text}");

    let list = run(mcp_in(&dir, &["auth", "list", "--json"]));
    assert_eq!(list.code, Some(0), "{list:?}");
    let l = list.json();
    assert_eq!(l["servers"][0]["server"], url.as_str());
    assert_eq!(l["servers"][0]["grant"], "authorization_code");
    assert_eq!(l["servers"][0]["renewable"], true);
    assert_eq!(l["servers"][0]["issuer"], world.issuer.as_str());
    let table = run(mcp_in(&dir, &["auth", "list"]));
    assert!(table.stdout.contains(&url), "{table:?}");
    for r in [&tools, &who, &list, &table] {
        assert!(
            !r.stdout.contains(&token) && !r.stderr.contains(&token),
            "token printed: {r:?}"
        );
    }

    // A failed sign-in (here a machine's, with a wrong secret) leaves the one that works in place.
    let mut bad = mcp_in(
        &dir,
        &[
            "login",
            &url,
            "--client-credentials",
            "--client-id",
            ROBOT_ID,
            "--client-secret-env",
            "WRONG_SECRET",
        ],
    );
    bad.env("WRONG_SECRET", "nope");
    let bad = run(bad);
    assert_eq!(bad.code, Some(3), "{bad:?}");
    assert_eq!(entry(&dir), stored);
    let who = run(mcp_in(&dir, &["call", &url, "whoami"]));
    assert!(who.stdout.starts_with("user-1 via client-"), "{who:?}");

    // Signing in again keeps the registration (and its redirect URI): one registration, two sign-ins.
    login_pasting(&world, &dir);
    assert_eq!(world.counts.get(), [1, 2, 2, 0, 0]);

    let out = run(mcp_in(&dir, &["logout", "protected", "--config", cfg]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("Signed out of"), "{out:?}");
    assert_eq!(auth_file(&dir)["servers"], serde_json::json!({}));
    assert_needs_login(&run(mcp_in(&dir, &["tools", &url])), &url);
    let again = run(mcp_in(&dir, &["logout", &url]));
    assert_eq!(again.code, Some(2), "{again:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn client_credentials_sign_in_a_machine_and_renew_without_it() {
    let world = World::start(300);
    let dir = config_dir("machine");
    let url = world.mcp_url.clone();
    let login = |secret_var: &str| {
        let mut c = mcp_in(
            &dir,
            &[
                "login",
                &url,
                "--client-credentials",
                "--client-id",
                ROBOT_ID,
                "--client-secret-env",
                "ROBOT_SECRET",
            ],
        );
        c.env_remove("ROBOT_SECRET");
        if !secret_var.is_empty() {
            c.env("ROBOT_SECRET", secret_var);
        }
        run(c)
    };
    let missing = login("");
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(missing.stderr.contains("ROBOT_SECRET"), "{missing:?}");

    let wrong = login("not-the-secret");
    assert_eq!(wrong.code, Some(3), "{wrong:?}");
    assert!(wrong.stderr.contains("invalid_client"), "{wrong:?}");
    assert!(
        !dir.join("auth.json").exists(),
        "a failed sign-in keeps nothing"
    );

    let ok = login(ROBOT_SECRET);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert!(!ok.stdout.contains(ROBOT_SECRET) && !ok.stderr.contains(ROBOT_SECRET));
    assert_eq!(
        world.counts.get(),
        [0, 0, 0, 0, 1],
        "no registration, no user"
    );

    let who = run(mcp_in(&dir, &["call", &url, "whoami"]));
    assert_eq!(who.code, Some(0), "{who:?}");
    assert_eq!(who.stdout.trim(), "robot via robot");

    // An expired machine token is replaced by running the grant again, without the variable.
    expire_tokens(&dir);
    let old = entry(&dir)["credentials"]["tokens"]["access_token"].clone();
    let who = run(mcp_in(&dir, &["call", &url, "whoami"]));
    assert_eq!(who.code, Some(0), "{who:?}");
    assert_eq!(world.counts.get(), [0, 0, 0, 0, 2]);
    assert_ne!(entry(&dir)["credentials"]["tokens"]["access_token"], old);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn several_processes_signing_in_at_once_register_and_sign_in_once() {
    const N: usize = 4;
    let world = World::start(300);
    let dir = config_dir("together");
    let (tx, rx) = mpsc::channel();
    let mut children: Vec<_> = (0..N)
        .map(|i| {
            spawn_watched(
                mcp_in(&dir, &["login", &world.mcp_url, "--no-browser"]),
                i,
                tx.clone(),
            )
        })
        .collect();
    drop(tx);
    // One process shows the sign-in URL; the others say they wait for it. Only then does the user approve.
    let mut url = None;
    let mut waiting = std::collections::BTreeSet::new();
    let mut seen = Vec::new();
    while url.is_none() || waiting.len() < N - 1 {
        let (i, line) = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("stuck: {seen:?}"));
        seen.push((i, line.clone()));
        if let Some(u) = authorization_url(&line) {
            assert!(url.is_none(), "a second sign-in URL: {seen:?}");
            url = Some((i, u));
        } else if line.contains("Another mcp process is signing in") {
            waiting.insert(i);
        }
    }
    let (signer, url) = url.unwrap();
    assert!(!waiting.contains(&signer));
    let redirect = world.approve(&url);
    writeln!(children[signer].0.stdin.take().unwrap(), "{redirect}").unwrap();
    for (i, (child, stdout)) in children.iter_mut().enumerate() {
        let code = wait_timeout(child, Duration::from_secs(60));
        let out = stdout.take_out();
        assert_eq!(code, Some(0), "process {i}: {out} {seen:?}");
        assert!(out.contains("Signed in to"), "process {i}: {out}");
        if i != signer {
            assert!(out.contains("another mcp process just signed in"), "{out}");
        }
    }
    assert!(
        rx.try_iter().all(|(_, l)| authorization_url(&l).is_none()),
        "no second sign-in URL"
    );
    // [registrations, authorizations, code exchanges, refreshes, client credentials]
    assert_eq!(world.counts.get(), [1, 1, 1, 0, 0]);
    let tools = run(mcp_in(&dir, &["tools", &world.mcp_url]));
    assert_eq!(tools.code, Some(0), "{tools:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

trait TakeOut {
    fn take_out(&mut self) -> String;
}

impl TakeOut for std::thread::JoinHandle<String> {
    fn take_out(&mut self) -> String {
        let h = std::mem::replace(self, std::thread::spawn(String::new));
        h.join().unwrap()
    }
}

#[test]
fn an_expired_token_is_refreshed_once_when_several_processes_need_it() {
    const N: usize = 4;
    let world = World::start(300);
    let dir = config_dir("refresh");
    let url = world.mcp_url.clone();
    login_pasting(&world, &dir);
    let before = entry(&dir)["credentials"]["tokens"].clone();
    assert!(before["refresh_token"].is_string(), "{before}");
    expire_tokens(&dir);
    let children: Vec<Child> = (0..N)
        .map(|_| {
            mcp_in(&dir, &["call", &url, "whoami"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("user-1 via client-"));
    }
    // [registrations, authorizations, code exchanges, refreshes, client credentials]
    assert_eq!(
        world.counts.get(),
        [1, 1, 1, 1, 0],
        "one refresh for {N} processes"
    );
    let after = entry(&dir)["credentials"]["tokens"].clone();
    assert_ne!(after["access_token"], before["access_token"]);
    assert_ne!(
        after["refresh_token"], before["refresh_token"],
        "the rotated one is kept"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn the_browser_flow_opens_the_url_and_takes_the_redirect_on_a_loopback_port() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: no curl to play the browser");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let world = World::start(300);
    let dir = config_dir("browser");
    // The "browser": follows the authorization URL and its redirect, as a user who approves would.
    let browser = dir.join("browser.sh");
    std::fs::write(&browser, "#!/bin/sh\nexec curl -s -L -o /dev/null \"$1\"\n").unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = mcp_in(&dir, &["login", &world.mcp_url]);
    c.env("BROWSER", &browser);
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stderr.contains("/authorize?"),
        "the URL is printed too: {r:?}"
    );
    assert_eq!(world.counts.get(), [1, 1, 1, 0, 0]);
    let redirect = entry(&dir)["redirect_uri"].as_str().unwrap().to_owned();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let who = run(mcp_in(&dir, &["call", &world.mcp_url, "whoami"]));
    assert_eq!(who.code, Some(0), "{who:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_broken_sign_in_file_matters_only_to_servers_that_want_a_sign_in() {
    let world = World::start(300);
    let open = common::HttpServer::start();
    let dir = config_dir("broken");
    std::fs::write(dir.join("auth.json"), "not json").unwrap();
    let ping = run(mcp_in(&dir, &["ping", &open.url()]));
    assert_eq!(ping.code, Some(0), "{ping:?}");
    let tools = run(mcp_in(&dir, &["tools", &world.mcp_url]));
    assert_eq!(tools.code, Some(3), "{tools:?}");
    assert!(tools.stderr.contains("is not a sign-in file"), "{tools:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pty's master and slave, or `None` (test skipped) where none can be opened.
#[cfg(target_os = "linux")]
fn pty() -> Option<(std::fs::File, std::fs::File)> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)
        .map_err(|e| eprintln!("skipped: no pty available ({e})"))
        .ok()?;
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::File::options()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    Some((std::fs::File::from(master), slave))
}

#[cfg(target_os = "linux")]
#[test]
fn commands_run_at_a_terminal_sign_in_with_one_browser_window_however_many_start_at_once() {
    use std::os::unix::fs::PermissionsExt;
    const N: usize = 3;
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: no curl to play the browser");
        return;
    }
    let world = World::start(300);
    let dir = config_dir("terminal");
    // The "browser" notes each window it opens, then approves like a user.
    let opened = dir.join("opened.txt");
    let browser = dir.join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nexec curl -s -L -o /dev/null \"$1\"\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut runs = Vec::new();
    for _ in 0..N {
        let Some((master, slave)) = pty() else { return };
        let mut c = mcp_in(&dir, &["call", &world.mcp_url, "whoami"]);
        c.env("BROWSER", &browser)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .stdout(Stdio::piped());
        let child = c.spawn().unwrap();
        // Drain the terminal so the child never blocks writing to it.
        std::thread::spawn(move || {
            let mut m = master;
            let mut buf = [0u8; 4096];
            while matches!(std::io::Read::read(&mut m, &mut buf), Ok(n) if n > 0) {}
        });
        runs.push(child);
    }
    for mut child in runs {
        let code = wait_timeout(&mut child, Duration::from_secs(60));
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        assert_eq!(code, Some(0), "{out}");
        assert!(out.starts_with("user-1 via client-"), "{out}");
    }
    let windows = std::fs::read_to_string(&opened).unwrap();
    assert_eq!(windows.lines().count(), 1, "browser windows: {windows}");
    // [registrations, authorizations, code exchanges, refreshes, client credentials]
    assert_eq!(world.counts.get(), [1, 1, 1, 0, 0]);
    // Without a terminal (a script), the same command does not open a browser: it says what to run.
    let other = config_dir("terminal-script");
    assert_needs_login(
        &run(mcp_in(&other, &["tools", &world.mcp_url])),
        &world.mcp_url,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&other).unwrap();
}

/// The lines of a peer client's run that say a step failed.
fn failed_steps(r: &Run) -> Vec<Value> {
    r.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["ok"] == false)
        .collect()
}

#[test]
fn python_stdio_client_through_the_bridge_to_a_signed_in_server_both_eras() {
    let Some(p) = peers::peers() else { return };
    let world = World::start(300);
    let dir = config_dir("py-bridge");
    let url = world.mcp_url.clone();
    // The SDK starts its server with a fixed environment of its own: the folder goes through `env`.
    let bridge = format!(
        "env MCP_CONFIG_DIR={} {} bridge {url}",
        dir.display(),
        common::MCP
    );
    let client = |era: &str| {
        p.client(
            "py_client.py",
            &["--stdio", &bridge, "--era", era, "--profile", "protected"],
        )
    };

    // Not signed in: the server refuses, and the host hears what to run instead of waiting.
    for era in ["legacy", "modern"] {
        let mut c = client(era);
        // Later occurrences win: a step that waited would fail within 10 s rather than 30.
        c.args(["--timeout-ms", "10000"]);
        let r = run(c);
        assert_eq!(r.code, Some(1), "{era}: {r:?}");
        let failed = failed_steps(&r);
        let told = format!("mcp login {url}");
        assert!(
            failed.iter().any(|l| l["detail"]["error"]
                .as_str()
                .is_some_and(|e| e.contains(&told))),
            "{era}: no step failed saying {told:?}: {}",
            r.stdout
        );
        assert!(
            failed.iter().all(|l| !l["detail"]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("timed out")),
            "{era}: a step waited for an answer that never came: {}",
            r.stdout
        );
    }
    // [registrations, authorizations, code exchanges, refreshes, client credentials]
    assert_eq!(world.counts.get(), [0; 5], "no sign-in without mcp login");

    login_pasting(&world, &dir);
    for era in ["legacy", "modern"] {
        let lines = peers::all_steps_pass(&format!("python {era}"), client(era));
        let want = if era == "legacy" {
            "2025-11-25"
        } else {
            "2026-07-28"
        };
        assert_eq!(
            peers::step(&lines, "connect")["detail"]["protocolVersion"],
            want,
            "{era}"
        );
        // The server saw the user's token: its principal is the signed-in user and our registered client.
        let who = &peers::step(&lines, "whoami")["detail"]["text"];
        assert!(
            who.as_str()
                .is_some_and(|t| t.starts_with("user-1 via client-")),
            "{era}: {who}"
        );
        // The server's questions reached the Python client through the bridge and its answers came back.
        assert_eq!(peers::step(&lines, "elicitation")["ok"], true, "{era}");
        assert_eq!(peers::step(&lines, "sampling")["ok"], true, "{era}");
    }
    // Both runs used the stored token as it was: no refresh, no second sign-in.
    assert_eq!(world.counts.get(), [1, 1, 1, 0, 0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bridged_session_waits_for_a_sign_in_outlives_its_tokens_and_says_when_it_is_gone() {
    let world = World::start(300);
    let dir = config_dir("bridge-renew");
    let url = world.mcp_url.clone();

    // Without a sign-in the host's initialize is answered at once with the way out.
    let mut h = common::Host::spawn(mcp_in(&dir, &["bridge", &url]));
    h.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h", "version": "1"}}}));
    let r = h.answer(1);
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(&format!("mcp login {url}")), "{r}");

    // The user signs in while the host keeps the bridge running: the host's next try goes through.
    login_pasting(&world, &dir);
    let token = || entry(&dir)["credentials"]["tokens"]["access_token"].clone();
    h.initialize();
    let whoami = |h: &mut common::Host, id: i64| {
        let r = h.call(id, "whoami", json!({}));
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("call {id}: {r}"))
            .to_owned()
    };
    assert!(whoami(&mut h, 2).starts_with("user-1 via client-"));
    // [registrations, authorizations, code exchanges, refreshes, client credentials]
    assert_eq!(world.counts.get(), [1, 1, 1, 0, 0]);

    // The stored token reaches its end: the next message renews it first, in the same session.
    let first = token();
    expire_tokens(&dir);
    assert!(whoami(&mut h, 3).starts_with("user-1 via client-"));
    assert_eq!(world.counts.get(), [1, 1, 1, 1, 0]);
    let second = token();
    assert_ne!(second, first, "the renewed token is stored");

    // The server stops accepting the token before its stored expiry (401 mid-session): the bridge
    // renews it and sends the refused message again; the host sees only the answer.
    world.expire_access_tokens();
    assert!(whoami(&mut h, 4).starts_with("user-1 via client-"));
    assert_eq!(world.counts.get(), [1, 1, 1, 2, 0]);
    assert_ne!(token(), second);

    // A 2026-07-28 message through the same bridge carries the sign-in too.
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "h", "version": "1"},
    });
    h.send(
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "whoami", "arguments": {}, "_meta": meta}}),
    );
    let r = h.answer(5);
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("user-1 via client-")),
        "{r}"
    );

    // The sign-in is gone for good (the refresh token revoked, the access token refused): the call is
    // answered at once with what to run, and the bridge stays up for the host.
    world.revoke_refresh_tokens();
    world.expire_access_tokens();
    let r = h.call(6, "whoami", json!({}));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(&format!("mcp login {url}")), "{r}");
    let (code, stderr) = h.finish(true);
    assert_eq!(code, Some(0), "{stderr}");
    // Each refusal is on stderr too, one line each, where hosts keep their servers' logs.
    let told: Vec<&str> = stderr.lines().filter(|l| l.contains("mcp login")).collect();
    assert_eq!(told.len(), 2, "{stderr}");
    assert!(told.iter().all(|l| l.starts_with("mcp: ")), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
