//! `fork --listen ADDR --send-server JSON`: a socket childproc binds is handed to the child as
//! a net.Server handle, so a Node child written for `process.on('message', (m, server) => …)`
//! serves connections unchanged — in both serializations; and the refusals around it.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

mod common;
use common::*;

const CHILD: &str = r#"
process.on('message', (m, server) => {
  if (server) {
    const shown = typeof m?.n === 'bigint' ? `bigint ${m.n}` : JSON.stringify(m);
    server.on('connection', (s) => s.end(`hello ${shown}\n`));
    process.send({ got: m, port: server.address().port });
  } else process.send({ later: m });
});
"#;

/// Start `fork` with `args` on the child above; the child's first message (it has the
/// server) and the port it listens on.
fn start(args: &[&str]) -> (Live, u16, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let child = dir.path().join("child.js");
    std::fs::write(&child, CHILD).unwrap();
    let mut all: Vec<String> = vec!["fork".into(), "--disconnect".into(), "never".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.push(child.display().to_string());
    let mut live = Live::childproc(&all);
    let line = live.wait_for(Duration::from_secs(20), |l| l.contains("\"port\":"));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let port = v["port"].as_u64().unwrap() as u16;
    assert!(text(&live.stderr).contains(&format!("listening on 127.0.0.1:{port}")));
    (live, port, line, dir)
}

fn get(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_node_child_serves_the_socket_it_was_sent_in_both_modes() {
    for (mode, msg, want) in [
        ("json", r#"{"role":"web"}"#, r#"hello {"role":"web"}"#),
        (
            "advanced",
            r#"{"n":{"$v8":"bigint","value":"5"}}"#,
            "hello bigint 5",
        ),
    ] {
        let (mut live, port, _, _dir) = start(&[
            "--serialization",
            mode,
            "--listen",
            "127.0.0.1:0",
            "--send-server",
            msg,
        ]);
        // Connections reach the child through the socket childproc bound.
        for _ in 0..3 {
            assert_eq!(get(port).trim(), want, "{mode}");
        }
        // Messages after the handle are not held back.
        live.write(b"\"after\"\n");
        live.wait_for(Duration::from_secs(20), |l| {
            l.contains(r#"{"later":"after"}"#)
        });
        live.close_stdin();
        live.signal(nix::sys::signal::Signal::SIGTERM);
        let _ = live.finish(Duration::from_secs(20));
    }
}

#[test]
fn the_default_message_is_server() {
    let (live, port, first, _dir) = start(&["--listen", "127.0.0.1:0"]);
    assert!(first.contains(r#""got":"server""#), "{first}");
    assert_eq!(get(port).trim(), r#"hello "server""#);
    live.signal(nix::sys::signal::Signal::SIGTERM);
    let _ = live.finish(Duration::from_secs(20));
}

#[test]
fn a_child_that_never_answers_the_handle_does_not_hold_the_rest_forever() {
    // A shell child reads lines from the channel but knows nothing of handles: after a bounded
    // wait the rest is sent, and said.
    let t = Instant::now();
    let mut child = cp_std()
        .args([
            "fork",
            "--listen",
            "127.0.0.1:0",
            "--send",
            "\"second\"",
            "--",
            "sh",
            "-c",
            "read -r a <&3; read -r b <&3; echo '{\"n\":2}' >&3",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(out, r#"{"n":2}"#);
    let status = wait_deadline(&mut child, Duration::from_secs(30), "fork");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("did not acknowledge the server handle"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(25));
}

#[test]
fn bad_listen_values_and_busy_ports_are_refused_before_the_child_starts() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let addr = format!("127.0.0.1:{port}");
    for args in [
        vec!["fork", "--listen", "nope:x"],
        vec!["fork", "--listen", "70000"],
        vec!["fork", "--listen", &addr],
        vec!["fork", "--send-server", "\"s\""],
        vec!["fork", "--listen", "0", "--send-server", "{bad"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let script = format!("touch {}", marker.display());
        let mut full = args.clone();
        full.extend(["--", "sh", "-c", &script]);
        let out = cp().args(&full).output().unwrap();
        assert_one_line_error(&out, 125);
        assert!(!marker.exists(), "{args:?}: the child ran");
    }
}
