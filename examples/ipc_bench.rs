//! Round trips and bursts through childproc's IPC channel and its built-in echo child
//! (`childproc ipc-echo`), driven with the same library code `fork` and `cluster` use.
//! Used by `bench/ipc.sh`; prints one JSON object.
//!
//! usage: ipc_bench PATH_TO_CHILDPROC [ROUND_TRIPS] [BURST] [json|advanced]

use std::io::{Read, Write};
use std::time::Instant;

use childproc::ipc;
use childproc::process::{self, Input, Output, Spec};

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args.next().expect("path to childproc");
    let trips: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let burst: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    if args.next().as_deref() == Some("advanced") {
        measure(&bin, trips, burst, Frames(ipc::v8::FrameDecoder::new()));
    } else {
        measure(&bin, trips, burst, Lines(ipc::LineDecoder::new()));
    }
}

/// One serialization as the benchmark drives it: how a message is written, and how the
/// echoes are split (and, for frames, decoded) on arrival.
trait Codec: 'static {
    const SERIALIZATION: ipc::Serialization;
    /// Write the JSON text `msg` as one message.
    fn write(out: &mut dyn Write, msg: &str);
    fn push(&mut self, bytes: &[u8]);
    /// Take the next whole echo, if one has arrived.
    fn next(&mut self) -> bool;
}

struct Lines(ipc::LineDecoder);

impl Codec for Lines {
    const SERIALIZATION: ipc::Serialization = ipc::Serialization::Json;
    fn write(out: &mut dyn Write, msg: &str) {
        writeln!(out, "{msg}").expect("write");
    }
    fn push(&mut self, bytes: &[u8]) {
        self.0.push(bytes);
    }
    fn next(&mut self) -> bool {
        self.0.next_line().is_some()
    }
}

struct Frames(ipc::v8::FrameDecoder);

impl Codec for Frames {
    const SERIALIZATION: ipc::Serialization = ipc::Serialization::Advanced;
    fn write(out: &mut dyn Write, msg: &str) {
        let frame = ipc::v8::json_to_frame(msg.as_bytes()).expect("frame");
        out.write_all(&frame).expect("write");
    }
    fn push(&mut self, bytes: &[u8]) {
        self.0.push(bytes);
    }
    fn next(&mut self) -> bool {
        match self.0.next_frame() {
            Some(f) => {
                ipc::v8::decode(f.expect("frame")).expect("decode");
                true
            }
            None => false,
        }
    }
}

/// Sequential round trips (one message in flight), then a burst pipelined by a writer thread
/// while this thread reads the echoes; one JSON line of results.
fn measure<C: Codec>(bin: &str, trips: usize, burst: usize, mut codec: C) {
    let (stream, child) = echo_child(bin, C::SERIALIZATION);
    let mut reader = stream.try_clone().expect("clone");
    let mut buf = vec![0u8; 64 * 1024];
    let mut ping = Vec::new();
    C::write(&mut ping, r#"{"seq":12345,"payload":"ping"}"#);
    let mut fill = |codec: &mut C| {
        let n = reader.read(&mut buf).expect("read");
        assert!(n > 0, "echo child closed the channel");
        codec.push(&buf[..n]);
    };
    let t = Instant::now();
    for _ in 0..trips {
        (&stream).write_all(&ping).expect("write");
        while !codec.next() {
            fill(&mut codec);
        }
    }
    let seq_rate = trips as f64 / t.elapsed().as_secs_f64();

    let w = stream.try_clone().expect("clone");
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        use std::fmt::Write as _;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, &w);
        let mut msg = String::new();
        for i in 0..burst {
            msg.clear();
            write!(msg, r#"{{"i":{i},"p":"abcdefgh"}}"#).expect("format");
            C::write(&mut out, &msg);
        }
        out.flush().expect("flush");
    });
    let mut got = 0;
    while got < burst {
        fill(&mut codec);
        while codec.next() {
            got += 1;
        }
    }
    let burst_rate = burst as f64 / t.elapsed().as_secs_f64();
    writer.join().expect("writer");
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let status = child.finish(std::time::Duration::from_secs(5));
    println!(
        "{{\"roundTripsPerSec\":{seq_rate:.0},\"burstMsgsPerSec\":{burst_rate:.0},\"echoExit\":\"{status:?}\"}}"
    );
}

/// `childproc ipc-echo` with a channel of serialization `ser` on fd 3.
fn echo_child(
    bin: &str,
    ser: ipc::Serialization,
) -> (std::os::unix::net::UnixStream, process::Running) {
    let (stream, child_end) = ipc::socketpair().expect("socketpair");
    let mut spec = Spec::new(bin, vec!["ipc-echo".into()]);
    for (k, v) in ipc::child_env_for(ser) {
        spec.env.push((k.into(), v.into()));
    }
    spec.fd3 = Some(child_end);
    spec.stdin = Input::Null;
    spec.stdout = Output::Inherit;
    (stream, process::spawn(spec).expect("spawn echo child"))
}
