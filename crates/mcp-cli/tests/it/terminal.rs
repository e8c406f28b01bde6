//! What `mcp` does only on a terminal: asking the server's elicitation questions and drawing the progress
//! bar. stdin and stderr are a real pty; stdout stays a pipe, as in `mcp call ... | jq`.
#![cfg(target_os = "linux")]

use crate::common;

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// A pty: the master, and the slave's path. `None` (test skipped) where no pty can be opened.
fn pty() -> Option<(File, File)> {
    let master = match rustix::pty::openpt(
        rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY,
    ) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipped: no pty available ({e})");
            return None;
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
    // No echo: what the test types must not come back in what it reads.
    let mut t = rustix::termios::tcgetattr(&slave).unwrap();
    t.local_modes.remove(rustix::termios::LocalModes::ECHO);
    rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t).unwrap();
    Some((File::from(master), slave))
}

/// Everything written to the pty, chunk by chunk, until the slave side closes.
fn reader(mut master: File) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // EIO once every slave descriptor is closed: the child is gone.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    rx
}

fn conformance_stdio() -> [String; 2] {
    [server_bin().display().to_string(), "--stdio".into()]
}

#[test]
fn elicitation_is_asked_on_the_terminal() {
    let Some((master, slave)) = pty() else { return };
    let [bin, flag] = conformance_stdio();
    let mut child = Command::new(MCP)
        .args([
            "call",
            "test_elicitation",
            "message=Who are you?",
            "--",
            &bin,
            &flag,
        ])
        .env("NO_COLOR", "1")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut typist = master.try_clone().unwrap();
    let chunks = reader(master);
    let mut seen = String::new();
    let mut answered = Vec::new();
    while answered.len() < 2 {
        let chunk = chunks
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no prompt within 20 s; the terminal showed {seen:?}"));
        seen.push_str(&chunk);
        // Each field is asked as "  NAME* (description): "; answer the newest one not answered yet.
        for (field, answer) in [("username", "0042"), ("email", "ada@example.com")] {
            if !answered.contains(&field)
                && seen.contains(&format!("  {field}*"))
                && seen.trim_end().ends_with(':')
            {
                typist.write_all(format!("{answer}\n").as_bytes()).unwrap();
                answered.push(field);
            }
        }
    }
    assert!(seen.contains("Who are you?"), "{seen:?}");
    let code = wait_timeout(&mut child, Duration::from_secs(30));
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(code, Some(0), "{out} / {seen:?}");
    assert_eq!(
        out.trim(),
        r#"User response: {"action":"accept","content":{"email":"ada@example.com","username":"0042"}}"#
    );
}

#[test]
fn progress_draws_a_bar_on_a_terminal() {
    let Some((master, slave)) = pty() else { return };
    let [bin, flag] = conformance_stdio();
    let mut child = Command::new(MCP)
        .args(["call", "test_tool_with_progress", "--", &bin, &flag])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::from(slave))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let chunks = reader(master);
    let code = wait_timeout(&mut child, Duration::from_secs(30));
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    // Everything the terminal showed: the reader ends when the last slave descriptor (the child's) closes.
    let mut shown = String::new();
    loop {
        match chunks.recv_timeout(Duration::from_secs(10)) {
            Ok(c) => shown.push_str(&c),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the terminal never closed: {shown:?}"),
        }
    }
    assert_eq!(code, Some(0), "{shown:?}");
    assert_eq!(out.trim(), "Progress test completed");
    assert!(
        shown.contains("Completed step") && shown.contains('%'),
        "no progress bar: {shown:?}"
    );
}

/// What the terminal showed, and how far the test has read it.
#[derive(Default)]
struct Screen {
    seen: String,
    read: usize,
}

impl Screen {
    /// Read the pty until `want` shows up after what was already matched (panics after 20 s).
    fn wait_for(&mut self, chunks: &mpsc::Receiver<String>, want: &str) {
        if !self.shows(chunks, want, Duration::from_secs(20)) {
            panic!(
                "no {want:?} within 20 s; the terminal showed {:?}",
                self.seen
            );
        }
    }

    /// Whether `want` shows up within `limit`.
    fn shows(&mut self, chunks: &mpsc::Receiver<String>, want: &str, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            if let Some(i) = self.seen[self.read..].find(want) {
                self.read += i + want.len();
                return true;
            }
            let left = limit.saturating_sub(start.elapsed());
            match chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&chunk),
                Err(_) => return false,
            }
        }
    }
}

#[test]
fn sampling_reads_the_reply_typed_on_the_terminal() {
    let Some((master, slave)) = pty() else { return };
    let [bin, flag] = conformance_stdio();
    let mut child = Command::new(MCP)
        .args([
            "call",
            "test_sampling",
            "prompt=Capital of France?",
            "--",
            &bin,
            &flag,
        ])
        .env("NO_COLOR", "1")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut typist = master.try_clone().unwrap();
    let chunks = reader(master);
    let mut screen = Screen::default();
    screen.wait_for(&chunks, "an empty reply declines");
    let seen = &screen.seen;
    assert!(seen.contains("[user] Capital of France?"), "{seen:?}");
    assert!(seen.contains("at most 100 tokens"), "{seen:?}");
    typist.write_all(b"Paris,\nof course.\n\n").unwrap();
    let code = wait_timeout(&mut child, Duration::from_secs(30));
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(code, Some(0), "{out} / {seen:?}");
    assert_eq!(out.trim(), "LLM response: Paris,\nof course.");
}

#[test]
fn the_shell_completes_tool_names_follows_list_changes_and_keeps_its_history() {
    let Some((master, slave)) = pty() else { return };
    let [bin, flag] = conformance_stdio();
    let config = std::env::temp_dir().join(format!("mcp-cli-shell-pty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&config);
    let mut child = Command::new(MCP)
        .args(["shell", "--", &bin, &flag])
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("MCP_CONFIG_DIR", &config)
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut typist = master.try_clone().unwrap();
    let chunks = reader(master);
    let mut screen = Screen::default();
    screen.wait_for(&chunks, "mcp> ");
    typist.write_all(b"call test_simple_te\t").unwrap();
    screen.wait_for(&chunks, "test_simple_text");
    // Enter (a carriage return: the editor's terminal is raw).
    typist.write_all(b"\r").unwrap();
    screen.wait_for(&chunks, "This is a simple text response for testing.");
    screen.wait_for(&chunks, "mcp> ");
    // A tool the server adds (it says so with tools/list_changed) is completed once the shell has the new
    // list: asked again until then.
    typist
        .write_all(b"call test_trigger_tool_change\r")
        .unwrap();
    screen.wait_for(&chunks, "test_dynamic_tool added");
    screen.wait_for(&chunks, "mcp> ");
    let mut completed = false;
    for _ in 0..20 {
        typist.write_all(b"call test_dyn\t").unwrap();
        if screen.shows(&chunks, "test_dynamic_tool", Duration::from_millis(500)) {
            completed = true;
            break;
        }
        // Ctrl-U: drop the line and try again.
        typist.write_all(b"\x15").unwrap();
    }
    assert!(completed, "the new tool never completed: {:?}", screen.seen);
    typist.write_all(b"\x15").unwrap();
    // Ctrl-D on an empty line leaves.
    typist.write_all(b"\x04").unwrap();
    let code = wait_timeout(&mut child, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{:?}", screen.seen);
    let history = std::fs::read_to_string(config.join("shell_history")).unwrap();
    assert!(
        history.lines().any(|l| l == "call test_simple_text"),
        "{history:?}"
    );
    std::fs::remove_dir_all(&config).unwrap();
}

#[test]
fn an_empty_reply_rejects_sampling_in_both_eras() {
    for era in ["legacy", "modern"] {
        let Some((master, slave)) = pty() else { return };
        let [bin, flag] = conformance_stdio();
        let mut child = Command::new(MCP)
            .args([
                "call",
                "test_sampling",
                "prompt=Capital?",
                "--protocol",
                era,
                "--",
                &bin,
                &flag,
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut typist = master.try_clone().unwrap();
        let chunks = reader(master);
        let mut screen = Screen::default();
        screen.wait_for(&chunks, "an empty reply declines");
        typist.write_all(b"\n").unwrap();
        // The legacy server hears the rejection and fails the call; a modern call stops at the client.
        screen.wait_for(&chunks, "User rejected sampling request");
        let code = wait_timeout(&mut child, Duration::from_secs(30));
        assert_eq!(code, Some(4), "{era}: {:?}", screen.seen);
    }
}

#[test]
fn bench_shows_a_progress_line_on_a_terminal_only() {
    let Some((master, slave)) = pty() else { return };
    let [bin, flag] = conformance_stdio();
    let mut child = Command::new(MCP)
        .args([
            "bench",
            "test_simple_text",
            "-d",
            "1",
            "--warmup",
            "0.5",
            "-c",
            "2",
            "--",
            &bin,
            &flag,
        ])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::from(slave))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let chunks = reader(master);
    let code = wait_timeout(&mut child, Duration::from_secs(30));
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut shown = String::new();
    loop {
        match chunks.recv_timeout(Duration::from_secs(10)) {
            Ok(c) => shown.push_str(&c),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the terminal never closed: {shown:?}"),
        }
    }
    assert_eq!(code, Some(0), "{out} / {shown:?}");
    assert!(
        shown.contains("warm-up") && shown.contains("measuring") && shown.contains(" calls"),
        "no progress line: {shown:?}"
    );
    // NO_COLOR: the line has no colour codes (cursor movement only).
    assert!(
        !shown.contains("\x1b[3") && !shown.contains("\x1b[1;"),
        "{shown:?}"
    );
    // The report goes to stdout, untouched by the line.
    assert!(out.starts_with("test_simple_text on "), "{out}");
    assert!(!out.contains("measuring"), "{out}");
}
