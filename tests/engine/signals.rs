//! Signals to childproc: TERM, INT and HUP are forwarded to the child's group exactly once and
//! awaited (128+N, no orphan, captured output still printed); SIGKILL takes the direct child
//! down (PR_SET_PDEATHSIG) and the guard takes the rest of the group.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::SECS10;
use crate::common::mode::*;
use crate::common::*;

/// Waits until a process runs as `sleep ARG` and returns its pid.
fn sleeper(arg: &str) -> i32 {
    let mut pid = 0;
    wait_until(SECS10, &format!("sleep {arg} never started"), || {
        pid = pids_with_cmdline(&["sleep", arg])
            .first()
            .copied()
            .unwrap_or(0);
        pid != 0
    });
    pid
}

/// Runs `childproc MODE OPTS sh -c SCRIPT`, where SCRIPT writes its pid to `$READY` when it
/// is ready; sends `sig` to childproc only then. Returns the exit status, the output, and the
/// child's pid.
fn signalled(m: Mode, opts: &[&str], script: &str, sig: Signal) -> (Option<i32>, String, i32) {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = script.replace("$READY", &sh_quote(ready.to_str().unwrap()));
    let live = Live::start(&mut m.sh_std(opts, &script));
    let child = read_pid(&ready, SECS10);
    live.signal(sig);
    let (st, out, _) = live.finish(SECS10);
    (st.code(), text(&out), child)
}

/// A file the child creates once it is ready (for scripts that say so with `: > FILE`).
fn wait_for_file(path: &Path) {
    wait_until(SECS10, "the child never got ready", || path.exists());
}

case!(
    sigterm_to_childproc_is_forwarded_and_leaves_no_orphan,
    |m| {
        let gc = m.token("2345.28", 0);
        let _sweep = Sweep::new(&[&["sleep", &gc]]);
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg");
        let script = format!(
            "echo started; sleep {gc} & echo $! > {}; wait",
            sh_quote(pidfile.to_str().unwrap())
        );
        let live = Live::start(&mut m.sh_std(&[], &script));
        let bg = read_pid(&pidfile, SECS10);
        assert_eq!(sleeper(&gc), bg);
        assert_eq!(pids_with_cmdline(&["sleep", &gc]).len(), 1);
        live.signal(Signal::SIGTERM);
        let (status, out, _) = live.finish(SECS10);
        assert_eq!(status.code(), Some(143));
        assert_eq!(text(&out), "started\n", "captured output is still printed");
        assert_none_left(&["sleep", &gc], Duration::from_secs(5), "grandchild");
        assert!(
            gone_within(bg, Duration::from_secs(5)),
            "grandchild {bg} survived"
        );
    }
);

case!(sigterm_to_childproc_is_forwarded_and_output_is_kept, |m| {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!(
        "trap 'echo got-term; exit 3' TERM; echo started; : > {}; while :; do sleep 0.05; done",
        sh_quote(ready.to_str().unwrap())
    );
    let live = Live::start(&mut m.sh_std(&[], &script));
    wait_for_file(&ready);
    live.signal(Signal::SIGTERM);
    let (_status, out, _err) = live.finish(SECS10);
    assert_eq!(
        text(&out),
        "started\ngot-term\n",
        "captured output is still printed"
    );
});

case!(
    signals_to_childproc_are_forwarded_exactly_once_and_awaited,
    |m| {
        let outputs = match m {
            Spawn => vec![&[][..], &["--prefix", ""], &["--json"]],
            _ => m.outputs(),
        };
        for opts in outputs {
            for (sig, name) in [
                (Signal::SIGTERM, "TERM"),
                (Signal::SIGINT, "INT"),
                (Signal::SIGHUP, "HUP"),
            ] {
                // The child counts what it receives, keeps running a while, then reports.
                let script = format!(
                    "n=0; trap 'n=$((n+1)); echo got-{name}-$n' {name}; echo $$ > $READY; \
                 i=0; while [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done; echo done-$n"
                );
                let (_, out, child) = signalled(m, opts, &script, sig);
                // childproc waited for the child: it is gone the moment childproc is.
                assert!(
                    !alive(child),
                    "{opts:?} {name}: childproc exited before its child"
                );
                assert!(
                    out.contains(&format!("got-{name}-1")),
                    "{opts:?} {name}: {out}"
                );
                assert!(
                    !out.contains(&format!("got-{name}-2")),
                    "{opts:?} {name}: twice: {out}"
                );
                assert!(out.contains("done-1"), "{opts:?} {name}: {out}");
            }
        }
    }
);

case!(
    a_signal_to_childproc_kills_the_group_and_gives_128_plus_n,
    |m| {
        for (k, (sig, code)) in [
            (Signal::SIGTERM, 143),
            (Signal::SIGINT, 130),
            (Signal::SIGHUP, 129),
        ]
        .into_iter()
        .enumerate()
        {
            let gc = m.token("2345.7", k);
            let _sweep = Sweep::new(&[&["sleep", &gc]]);
            // Here the grandchild runs in the foreground of the child shell.
            let dir = tempfile::tempdir().unwrap();
            let ready = dir.path().join("ready");
            let script = format!(
                "echo $$ > {}; sleep {gc}; echo not-reached",
                sh_quote(ready.to_str().unwrap())
            );
            let live = Live::start(&mut m.sh_std(&[], &script));
            let child = read_pid(&ready, SECS10);
            // Signal only once the shell waits for its foreground sleep: a signal that lands
            // between the shell's fork and exec is a race inside sh, not what this tests.
            sleeper(&gc);
            live.signal(sig);
            let (st, out, _) = live.finish(SECS10);
            let (st, out) = (st.code(), text(&out));
            assert_eq!(st, Some(code), "{sig:?}");
            assert!(!out.contains("not-reached"), "{sig:?}: {out}");
            assert!(!alive(child), "{sig:?}: child left behind");
            assert_none_left(&["sleep", &gc], Duration::from_secs(5), "grandchild");
        }
    }
);

case!(sigterm_to_childproc_leaves_no_background_grandchild, |m| {
    let gc = m.token("2345.74", 0);
    let _sweep = Sweep::new(&[&["sleep", &gc]]);
    let script = format!("sleep {gc} & echo $$ > $READY; wait");
    let (st, _, child) = signalled(m, &[], &script, Signal::SIGTERM);
    assert_eq!(st, Some(143));
    assert!(!alive(child), "child left behind");
    assert_none_left(
        &["sleep", &gc],
        Duration::from_secs(5),
        "background grandchild",
    );
});

case!(sigint_to_childproc_leaves_no_background_grandchild, |m| {
    // A non-interactive shell starts background jobs with SIGINT ignored, so the forwarded
    // SIGINT alone cannot end this grandchild: the contract's escalation to SIGKILL after
    // --kill-after must ("interruptions signal the whole group, then escalate to SIGKILL after
    // --kill-after, so grandchildren never survive (`sh -c 'sleep 100 & wait'` dies too)").
    let gc = m.token("2345.75", 0);
    let _sweep = Sweep::new(&[&["sleep", &gc]]);
    let t = Instant::now();
    let script = format!("sleep {gc} & echo $$ > $READY; wait");
    let (st, _, child) = signalled(m, &["--kill-after", "500ms"], &script, Signal::SIGINT);
    assert_eq!(st, Some(130));
    assert!(!alive(child), "child left behind");
    assert_none_left(
        &["sleep", &gc],
        Duration::from_secs(5),
        "background grandchild",
    );
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
});

case!(sigkill_to_childproc_takes_its_direct_child_down, |m| {
    for (k, opts) in m.outputs().into_iter().enumerate() {
        let arg = m.token("2345.8", k);
        let _sweep = Sweep::new(&[&["sleep", &arg]]);
        let mut child = m
            .sh_std(opts, &format!("exec sleep {arg}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let cpid = child.id() as i32;
        let sleeper = sleeper(&arg);
        assert!(descendants(cpid).contains(&sleeper));
        signal(cpid, Signal::SIGKILL);
        child.wait().unwrap();
        let what = format!("{opts:?}: child of a SIGKILLed childproc");
        assert_gone(sleeper, Duration::from_secs(5), &what);
    }
});

case!(sigkill_to_childproc_takes_grandchildren_down_too, |m| {
    // PR_SET_PDEATHSIG reaches the direct child only; the guard process kills the rest of its
    // group, so background jobs of a SIGKILLed run are not orphaned.
    let (a, b) = (m.token("2345.6", 1), m.token("2345.6", 2));
    let _sweep = Sweep::new(&[&["sleep", &a], &["sleep", &b]]);
    let script = format!("sleep {a} & sleep {b} & echo ready; wait");
    let live = Live::start(&mut m.sh_std(&[], &script));
    sleeper(&a);
    sleeper(&b);
    live.signal(Signal::SIGKILL);
    let _ = live.finish(SECS10);
    assert_none_left(&["sleep", &a], Duration::from_secs(5), "grandchild");
    assert_none_left(&["sleep", &b], Duration::from_secs(5), "grandchild");
});
