//! Handle passing through childproc's channel library: the same connected socket handed to a
//! Node child N times as a `net.Socket`, each one acknowledged before the next (as Node's own
//! sender does). Used by `bench/ipc.sh`; prints one JSON object.
//!
//! usage: handle_bench PATH_TO_HANDLE_CHILD_JS [N]

use std::io::Read;
use std::os::fd::AsFd;
use std::time::Instant;

use childproc::ipc;
use childproc::process::{self, Input, Output, Spec};

fn main() {
    let mut args = std::env::args().skip(1);
    let script = args.next().expect("path to handle-child.js");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let (stream, child_end) = ipc::socketpair().expect("socketpair");
    let mut spec = Spec::new("node", vec![script.into(), n.to_string().into()]);
    for (k, v) in ipc::child_env() {
        spec.env.push((k.into(), v.into()));
    }
    spec.fd3 = Some(child_end);
    spec.stdin = Input::Null;
    spec.stdout = Output::Inherit;
    let child = process::spawn(spec).expect("spawn node");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let sock = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let mut reader = ipc::MessageReader::new(stream.try_clone().expect("clone"));
    let t = Instant::now();
    for i in 0..n {
        let line = format!("{{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{i}}}\n");
        ipc::send_with_fd(&stream, line.as_bytes(), sock.as_fd()).expect("send");
        // Node holds everything until it has answered: wait for the ACK.
        loop {
            let l = reader.next_line().expect("read").expect("child gone");
            if l == ipc::HANDLE_ACK {
                break;
            }
        }
    }
    while reader
        .next_line()
        .expect("read")
        .is_some_and(|l| l != b"\"done\"")
    {}
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = (&stream).read(&mut [0u8; 1]);
    let status = child.finish(std::time::Duration::from_secs(5));
    println!("{{\"handoffsPerSec\":{rate:.0},\"childExit\":\"{status:?}\"}}");
}
