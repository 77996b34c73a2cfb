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
        return advanced(&bin, trips, burst);
    }

    let (stream, child) = echo_child(&bin, ipc::Serialization::Json);

    // Sequential: one message in flight.
    let mut reader = stream.try_clone().expect("clone");
    let mut dec = ipc::LineDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let msg = b"{\"seq\":12345,\"payload\":\"ping\"}\n";
    let t = Instant::now();
    for _ in 0..trips {
        (&stream).write_all(msg).expect("write");
        loop {
            if dec.next_line().is_some() {
                break;
            }
            let n = reader.read(&mut buf).expect("read");
            assert!(n > 0, "echo child closed the channel");
            dec.push(&buf[..n]);
        }
    }
    let seq_rate = trips as f64 / t.elapsed().as_secs_f64();

    // Burst: a writer thread pipelines every message while this thread reads the echoes.
    let w = stream.try_clone().expect("clone");
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, &w);
        for i in 0..burst {
            writeln!(out, "{{\"i\":{i},\"p\":\"abcdefgh\"}}").expect("write");
        }
        out.flush().expect("flush");
    });
    let mut got = 0;
    while got < burst {
        let n = reader.read(&mut buf).expect("read");
        assert!(n > 0, "echo child closed the channel");
        dec.push(&buf[..n]);
        while dec.next_line().is_some() {
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

/// The same two measurements over an `advanced` channel: V8 frames, decoded on arrival.
fn advanced(bin: &str, trips: usize, burst: usize) {
    use ipc::v8;
    let (stream, child) = echo_child(bin, ipc::Serialization::Advanced);
    let mut reader = stream.try_clone().expect("clone");
    let mut frames = v8::FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let ping = v8::json_to_frame(br#"{"seq":12345,"payload":"ping"}"#).expect("frame");
    let t = Instant::now();
    for _ in 0..trips {
        (&stream).write_all(&ping).expect("write");
        loop {
            if let Some(f) = frames.next_frame() {
                v8::decode(f.expect("frame")).expect("decode");
                break;
            }
            let n = reader.read(&mut buf).expect("read");
            assert!(n > 0, "echo child closed the channel");
            frames.push(&buf[..n]);
        }
    }
    let seq_rate = trips as f64 / t.elapsed().as_secs_f64();
    let w = stream.try_clone().expect("clone");
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, &w);
        for i in 0..burst {
            let msg = format!(r#"{{"i":{i},"p":"abcdefgh"}}"#);
            out.write_all(&v8::json_to_frame(msg.as_bytes()).expect("frame"))
                .expect("write");
        }
        out.flush().expect("flush");
    });
    let mut got = 0;
    while got < burst {
        let n = reader.read(&mut buf).expect("read");
        assert!(n > 0, "echo child closed the channel");
        frames.push(&buf[..n]);
        while let Some(f) = frames.next_frame() {
            v8::decode(f.expect("frame")).expect("decode");
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
