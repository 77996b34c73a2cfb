//! Node's `advanced` serialization, both ways, against real Node and execa: childproc's echo
//! child under a Node `fork(…, {serialization: 'advanced'})` parent and under execa's default
//! IPC; `childproc fork --serialization advanced` driving a Node child; and bad frames.

use std::path::PathBuf;
use std::time::Duration;

mod common;
use common::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Run a Node script (CommonJS or ESM by `name`'s extension) from a temp dir with the
/// childproc binary as its argument; its stdout and status.
fn node(name: &str, script: &str, cwd: Option<PathBuf>) -> (String, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = match &cwd {
        Some(d) => d.join(name),
        None => dir.path().join(name),
    };
    std::fs::write(&path, script).unwrap();
    let out = std::process::Command::new("node")
        .arg(&path)
        .arg(bin())
        .output()
        .unwrap();
    if cwd.is_some() {
        let _ = std::fs::remove_file(&path);
    }
    (text(&out.stdout), text(&out.stderr), out.status.success())
}

/// Values a Node program sends, with everything JSON cannot carry.
const VALUES_JS: &str = r#"
const shared = { s: [1, 2] };
const cyclic = { name: 'c' }; cyclic.self = cyclic;
const sparse = []; sparse[4] = 'x';
const err = new RangeError('bad'); 
const values = [
  'plain', 42, -0, NaN, Infinity, null, true, undefined, 2n ** 100n, -7n,
  { a: 1, nested: { b: [1, 'two', { c: null }] } },
  new Map([['k', 1], [{ o: 1 }, new Set([1, 'a', 3n])]]),
  Buffer.from([0, 1, 2, 255]), new Uint16Array([1, 65535]), new Float64Array([1.5, -2]),
  new Date(1234567890123), /ab+c/gi, [shared, shared], cyclic, sparse,
  { '$v8': 'not a tag', other: undefined }, '\ud800 lone', err,
  Object(5), Object('boxed'), new ArrayBuffer(3),
];
"#;

#[test]
fn a_node_parent_gets_every_advanced_value_back_deep_strict_equal() {
    let script = format!(
        r#"{VALUES_JS}
const {{ fork }} = require('child_process');
const assert = require('assert');
const c = fork('echo', [], {{ execPath: process.argv[2], execArgv: [], serialization: 'advanced' }});
let i = 0;
c.on('message', (m) => {{
  assert.deepStrictEqual(m, {{ v: values[i] }});
  if (++i === values.length) {{ console.log('echoed', i); c.disconnect(); }}
}});
c.on('exit', (code) => console.log('exit', code));
// send() takes only objects, strings, numbers and booleans at the top level.
for (const v of values) c.send({{ v }});
"#
    );
    let (out, err, ok) = node("parent.js", &script, None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("echoed 26"), "{out}{err}");
    assert!(out.contains("exit 0"), "{out}{err}");
}

/// Where .ci/run installs the pinned npm packages (tests/js/node_modules).
fn js_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules/execa/package.json").exists(),
        "execa is not installed: `npm install --prefix tests/js` (.ci/run does it)"
    );
    dir
}

#[test]
fn execa_ipc_round_trips_with_the_echo_child() {
    // execa 9's IPC is advanced serialization by default.
    let script = format!(
        r#"{VALUES_JS}
import {{ execa }} from 'execa';
import assert from 'node:assert';
const sub = execa(process.argv[2], ['ipc-echo'], {{ ipc: true }});
for (const v of values) {{
  await sub.sendMessage({{ v }});
  assert.deepStrictEqual(await sub.getOneMessage(), {{ v }});
}}
sub.disconnect();
const r = await sub;
console.log('execa ok', r.exitCode, JSON.parse(process.env.EXECA_PKG).version);
"#
    );
    let dir = js_dir();
    let pkg = std::fs::read_to_string(dir.join("node_modules/execa/package.json")).unwrap();
    let path = dir.join("execa-roundtrip.mjs");
    std::fs::write(&path, script).unwrap();
    let out = std::process::Command::new("node")
        .arg(&path)
        .arg(bin())
        .env("EXECA_PKG", pkg)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{o}{e}");
    assert_eq!(o.trim(), "execa ok 0 9.6.0", "{e}");
}

#[test]
fn fork_advanced_drives_a_node_child_with_maps_bigints_and_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let child = dir.path().join("child.js");
    std::fs::write(
        &child,
        r#"process.on('message', (m) => {
  const ok = m instanceof Map && m.get('n') === 2n ** 64n && Buffer.isBuffer(m.get('b'));
  process.send({ ok, sum: m.get('n') + 1n, buf: Buffer.concat([m.get('b'), Buffer.from([9])]),
                 keys: new Set(m.keys()), when: new Date(0), missing: undefined });
});"#,
    )
    .unwrap();
    let input = r#"{"$v8":"map","entries":[["n",{"$v8":"bigint","value":"18446744073709551616"}],["b",{"$v8":"Buffer","base64":"AQI="}]]}"#;
    let done = run_args(
        [
            "fork".as_ref(),
            "--serialization".as_ref(),
            "advanced".as_ref(),
            child.as_os_str(),
        ],
        Feed::Bytes(format!("{input}\n").into_bytes()),
        LIMIT,
    );
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(
        done.out(),
        concat!(
            r#"{"ok":true,"sum":{"$v8":"bigint","value":"18446744073709551617"},"#,
            r#""buf":{"$v8":"Buffer","base64":"AQIJ"},"keys":{"$v8":"set","values":["n","b"]},"#,
            r#""when":{"$v8":"date","value":0},"missing":{"$v8":"undefined"}}"#,
            "\n"
        )
    );
}

#[test]
fn the_printed_form_reenters_unchanged_through_the_echo_child() {
    let lines = [
        r#"{"$v8":"def","id":0,"value":{"me":{"$v8":"ref","id":0}}}"#,
        r#"[{"$v8":"number","value":"-0"},{"$v8":"undefined"},{"$v8":"bigint","value":"-5"}]"#,
        r#"{"$v8":"object","entries":[["$v8",1]]}"#,
        r#"{"$v8":"array","length":3,"entries":[["1","x"]]}"#,
        r#""\udc00 and €""#,
        r#"{"$v8":"error","name":"TypeError","message":"m","stack":"TypeError: m"}"#,
    ];
    let input = lines.join("\n") + "\n";
    let done = run_args(
        ["fork", "--serialization", "advanced"],
        Feed::Bytes(input.clone().into_bytes()),
        LIMIT,
    );
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(done.out(), input);
}

#[test]
fn bad_advanced_input_is_reported_and_the_rest_goes_on() {
    // Not JSON, an unknown tag, a dangling reference: each reported with its line; the good
    // lines still go through; exit 125 at the end.
    let input = "[1]\nnope\n{\"$v8\":\"wat\"}\n{\"$v8\":\"ref\",\"id\":9}\n[2]\n";
    let done = run_args(
        ["fork", "--serialization", "advanced"],
        Feed::Bytes(input.as_bytes().to_vec()),
        LIMIT,
    );
    assert_eq!(done.code(), Some(125), "{}", done.err());
    assert_eq!(done.out(), "[1]\n[2]\n");
    let err = done.err();
    for n in [2, 3, 4] {
        assert!(err.contains(&format!("stdin line {n}:")), "{err}");
    }
    // A --send value that cannot be sent is refused before anything starts.
    let done = run_args(
        [
            "fork",
            "--serialization",
            "advanced",
            "--send",
            r#"{"$v8":"wat"}"#,
        ],
        Feed::Bytes(Vec::new()),
        LIMIT,
    );
    assert_eq!(done.code(), Some(125));
    assert_eq!(done.err().lines().count(), 1, "{}", done.err());
    let done = run_args(
        ["fork", "--serialization", "v9"],
        Feed::Bytes(Vec::new()),
        LIMIT,
    );
    assert_eq!(done.code(), Some(125));
}

#[test]
fn bad_frames_from_a_child_are_reported_and_never_crash_or_hang() {
    // A python child writes: a good frame, a frame with an unknown tag, one of version 17, a
    // good one, then a truncated frame and exits.
    let script = r#"
import os, struct
def frame(payload): return struct.pack('>I', len(payload)) + payload
good = frame(b'\xff\x0f\x49\x02')
os.write(3, good + frame(b'\xff\x0f\x77') + frame(b'\xff\x11\x30') + good + struct.pack('>I', 50) + b'\xff\x0f')
"#;
    let done = run_args(
        [
            "fork",
            "--serialization",
            "advanced",
            "python3",
            "-c",
            script,
        ],
        Feed::Bytes(Vec::new()),
        LIMIT,
    );
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(done.out(), "1\n1\n");
    let err = done.err();
    assert!(err.contains("unexpected tag 'w'"), "{err}");
    assert!(err.contains("version 17"), "{err}");
    assert!(err.contains("middle of a message"), "{err}");
    // A length of 2^31 or more: the framing is lost; said once, and the run still ends.
    let script = r#"
import os, struct
os.write(3, struct.pack('>I', 0x80000000) + b'x' * 10)
"#;
    let done = run_args(
        [
            "fork",
            "--serialization",
            "advanced",
            "python3",
            "-c",
            script,
        ],
        Feed::Bytes(Vec::new()),
        LIMIT,
    );
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert!(done.err().contains("2 GiB"), "{}", done.err());
}

#[test]
fn handles_from_a_node_parent_are_acknowledged_by_the_echo_child_in_both_modes() {
    // Node holds every later message until the handle is acknowledged: with the ACK, the
    // handle's message and the three after it all come back.
    let script = r#"
const { fork } = require('child_process');
const net = require('net');
const mode = process.argv[3];
const c = fork('echo', [], { execPath: process.argv[2], execArgv: [], serialization: mode });
setTimeout(() => { console.log(mode, 'stuck'); process.exit(1); }, 20000).unref();
const server = net.createServer().listen(0, '127.0.0.1', () => {
  const got = [];
  c.on('message', (m) => {
    got.push(m.n);
    if (got.length === 5) { console.log(mode, got.join(',')); c.disconnect(); server.close(); }
  });
  c.send({ n: 0 });
  c.send({ n: 1 }, server);
  const sock = net.connect(server.address().port, '127.0.0.1', () => {
    c.send({ n: 2 }, sock);
    c.send({ n: 3 });
    c.send({ n: 4 });
  });
});
"#;
    for mode in ["json", "advanced"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handles.js");
        std::fs::write(&path, script).unwrap();
        let out = std::process::Command::new("node")
            .arg(&path)
            .arg(bin())
            .arg(mode)
            .output()
            .unwrap();
        let (o, e) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{mode}: {o}{e}");
        assert_eq!(o.trim(), format!("{mode} 0,1,2,3,4"), "{e}");
    }
}

#[test]
fn cluster_workers_speak_advanced_too() {
    // `cluster --worker --serialization advanced`: each job reaches a Node worker as a V8
    // value (the tagged input becomes a BigInt), and its answer comes back in the JSON form.
    let dir = tempfile::tempdir().unwrap();
    let worker = dir.path().join("w.js");
    std::fs::write(
        &worker,
        "process.on('message', (m) => process.send({ twice: m.n * 2n, isBig: typeof m.n }));",
    )
    .unwrap();
    let inputs = r#"{"n":{"$v8":"bigint","value":"21"}}
{"n":{"$v8":"bigint","value":"9007199254740993"}}
"#;
    let line = format!("node {}", worker.display());
    let done = run_args(
        [
            "cluster",
            "-w",
            "2",
            "-k",
            "--no-progress",
            "--serialization",
            "advanced",
            "--worker",
            &line,
        ],
        Feed::Bytes(inputs.as_bytes().to_vec()),
        LIMIT,
    );
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(
        done.out(),
        concat!(
            r#"{"twice":{"$v8":"bigint","value":"42"},"isBig":"bigint"}"#,
            "\n",
            r#"{"twice":{"$v8":"bigint","value":"18014398509481986"},"isBig":"bigint"}"#,
            "\n"
        )
    );
    // Only --worker has a channel of the user's: elsewhere the option is refused.
    let done = run_args(
        [
            "cluster",
            "--serialization",
            "advanced",
            "--task",
            "sum",
            "3",
        ],
        Feed::Null,
        LIMIT,
    );
    assert_eq!(done.code(), Some(125), "{}", done.err());
}

#[test]
fn the_task_worker_role_accepts_an_advanced_node_parent() {
    let script = r#"
const { fork } = require('child_process');
const c = fork('cluster-worker', [], { execPath: process.argv[2], execArgv: [], serialization: 'advanced' });
c.on('message', (m) => { console.log(JSON.stringify(m)); c.disconnect(); });
c.send({ task: 'fib', input: '10' });
"#;
    let (out, err, ok) = node("task.js", script, None);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), r#"{"result":55}"#, "{err}");
}
