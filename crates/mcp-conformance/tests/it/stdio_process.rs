//! `conformance-server --stdio` as a real child process on each kind of stdin/stdout a host can hand it: a
//! pipe, a socket pair (what Node gives a child), a terminal and a regular file; and a peer that goes away in
//! the middle of a frame. Linux only: the non-blocking path is Linux only, and the checks read `/proc`.
#![cfg(target_os = "linux")]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const SERVER: &str = env!("CARGO_BIN_EXE_conformance-server");
const TEXT: &str = "This is a simple text response for testing.";

fn server() -> Command {
    let mut c = Command::new(SERVER);
    c.arg("--stdio").stderr(Stdio::piped()).kill_on_drop(true);
    c
}

fn initialize(id: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})
    .to_string()
}

fn call(id: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}})
        .to_string()
}

/// A legacy session's opening lines and `n` calls with ids 2..n+2, as one block of input.
fn script(n: u64) -> String {
    let mut s = initialize(1) + "\n";
    s += r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    s += "\n";
    for id in 2..n + 2 {
        s += &call(id);
        s += "\n";
    }
    s
}

/// The ids of the successful `test_simple_text` answers among `lines` (others are ignored).
fn answered(lines: impl IntoIterator<Item = String>) -> Vec<u64> {
    let mut ids: Vec<u64> = lines
        .into_iter()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(|v| v["result"]["content"][0]["text"] == TEXT)
        .filter_map(|v| v["id"].as_u64())
        .collect();
    ids.sort_unstable();
    ids
}

/// `O_NONBLOCK` of one of the child's descriptors, from `/proc/<pid>/fdinfo`.
fn nonblocking(pid: u32, fd: i32) -> bool {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).expect("fdinfo");
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(|f| i32::from_str_radix(f.trim(), 8).expect("octal flags"))
        .expect("flags line");
    flags & 0o4000 != 0
}

/// The child's descriptors other than 0, 1, 2 that point at the same object as its `fd`.
fn other_fds_on(pid: u32, fd: i32) -> Vec<i32> {
    let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).expect("fd link");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&n| n > 2)
        .filter(|&n| {
            std::fs::read_link(format!("/proc/{pid}/fd/{n}"))
                .ok()
                .as_ref()
                == Some(&target)
        })
        .collect()
}

async fn finish(child: Child) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("server did not exit within 20 s of end of input")
        .expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "server panicked: {stderr}");
    assert!(
        out.status.success(),
        "server exit status {:?}: {stderr}",
        out.status
    );
    out
}

/// Pipes: every pipelined call is answered, and the server reads and writes its own non-blocking descriptions
/// of the pipes while fds 0 and 1 (shared with whoever started it) stay blocking.
#[tokio::test]
async fn pipes_are_served_non_blocking_without_touching_the_shared_descriptions() {
    let mut child = server()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    stdin.write_all(script(200).as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 201 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("answers within 10 s")
            .unwrap()
            .expect("stdout open");
        got.push(line);
    }
    assert_eq!(answered(got), (2..202).collect::<Vec<_>>());

    for fd in [0, 1] {
        assert!(!nonblocking(pid, fd), "fd {fd} was made non-blocking");
        let own = other_fds_on(pid, fd);
        assert!(
            own.iter().any(|&n| nonblocking(pid, n)),
            "no non-blocking description of fd {fd}'s pipe (fds {own:?})"
        );
    }
    drop(stdin);
    finish(child).await;
}

/// A socket pair, with the socket's description shared with this process as it is with a host: `O_NONBLOCK`
/// is on while the server runs and back off when it exits.
#[tokio::test]
async fn socket_stdio_is_served_and_its_blocking_mode_restored() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    // This process keeps a descriptor on the child's description, as a parent sharing it would.
    let shared = theirs.try_clone().unwrap();
    let shared_fd = shared.as_raw_fd();
    let child = server()
        .stdin(Stdio::from(OwnedFd::from(theirs.try_clone().unwrap())))
        .stdout(Stdio::from(OwnedFd::from(theirs)))
        .spawn()
        .unwrap();
    let mut ours = tokio::net::UnixStream::from_std({
        ours.set_nonblocking(true).unwrap();
        ours
    })
    .unwrap();
    ours.write_all(script(20).as_bytes()).await.unwrap();
    let (r, mut w) = ours.split();
    let mut lines = BufReader::new(r).lines();
    let mut got = Vec::new();
    while got.len() < 21 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("answers within 10 s")
            .unwrap()
            .expect("socket open");
        got.push(line);
    }
    assert_eq!(answered(got), (2..22).collect::<Vec<_>>());
    assert!(
        nonblocking(std::process::id(), shared_fd),
        "the server did not use the socket non-blocking"
    );
    w.shutdown().await.unwrap();
    finish(child).await;
    assert!(
        !nonblocking(std::process::id(), shared_fd),
        "O_NONBLOCK left on the shared socket description"
    );
}

/// A terminal keeps the blocking path: the server answers what is typed and never makes the tty
/// non-blocking (which would break the shell that owns it).
#[tokio::test]
async fn a_terminal_is_served_and_left_blocking() {
    let master = match rustix::pty::openpt(
        rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY,
    ) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipped: no pty available ({e})");
            return;
        }
    };
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = File::options()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    // Raw-ish input: the line discipline must not echo our input back into what we read.
    let mut t = rustix::termios::tcgetattr(&slave).unwrap();
    t.local_modes
        .remove(rustix::termios::LocalModes::ECHO | rustix::termios::LocalModes::ICANON);
    rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t).unwrap();
    let child = server()
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut master = File::from(master);
    master.write_all(script(3).as_bytes()).unwrap();
    // Blocking reads of the master on a thread, bounded by the timeout below.
    let mut reader = master.try_clone().unwrap();
    let read = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while answered(text.lines().map(String::from)).len() < 3 {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0, "pty closed");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text
    });
    let text = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("answers within 10 s")
        .unwrap();
    assert_eq!(answered(text.lines().map(String::from)), vec![2, 3, 4]);
    for fd in [0, 1] {
        assert!(
            !nonblocking(pid, fd),
            "the tty on fd {fd} was made non-blocking"
        );
        assert!(
            other_fds_on(pid, fd).iter().all(|&n| !nonblocking(pid, n)),
            "a non-blocking descriptor on the tty"
        );
    }
    // End of input on a terminal: ^D at the start of a line (VEOF works with ICANON off only via VMIN; kill).
    drop(slave);
    let mut child = child;
    child.kill().await.unwrap();
}

/// Regular files: input read to the end, every answer written to the output file, then a clean exit.
#[tokio::test]
async fn regular_files_are_served_to_the_end() {
    let dir = std::env::temp_dir().join(format!("mcp-stdio-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (inp, outp) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    std::fs::write(&inp, script(50)).unwrap();
    let child = server()
        .stdin(Stdio::from(File::open(&inp).unwrap()))
        .stdout(Stdio::from(File::create(&outp).unwrap()))
        .spawn()
        .unwrap();
    finish(child).await;
    let out = std::fs::read_to_string(&outp).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        answered(out.lines().map(String::from)),
        (2..52).collect::<Vec<_>>()
    );
}

/// The host closes the server's stdin in the middle of a frame, after having stopped reading its stdout:
/// the server answers what was whole, writes into a closed pipe without dying of it, and exits cleanly.
#[tokio::test]
async fn a_peer_closing_mid_frame_ends_the_server_cleanly() {
    let mut child = server()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    stdin.write_all(script(1).as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(lines.next_line().await.unwrap().expect("stdout open"));
    }
    assert_eq!(answered(got), vec![2]);
    // Half a frame, then the pipe closes in its middle.
    let half = call(3);
    stdin
        .write_all(&half.as_bytes()[..half.len() / 2])
        .await
        .unwrap();
    drop(lines);
    stdin
        .write_all(format!("{}\n", call(4)).as_bytes())
        .await
        .unwrap();
    stdin
        .write_all(&half.as_bytes()[..half.len() / 2])
        .await
        .unwrap();
    drop(stdin);
    finish(child).await;
}
