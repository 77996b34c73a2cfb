//! --timeout and the process group: the whole group gets --kill-signal, SIGKILL follows after
//! --kill-after (137 as timeout(1) when it was needed), 124 or --preserve-status, output before
//! the kill kept, and nothing a grandchild holds open can hang a timed run.

use std::time::{Duration, Instant};

use predicates::prelude::*;
use predicates::str::contains;

use crate::common::*;
use crate::{SECS10, SECS30};

#[test]
fn timeout_1_exits_137_when_its_sigkill_was_needed() {
    // timeout(1) itself, for reference: CONT cannot end sleep, the SIGKILL after -k does (and
    // takes timeout's own process group with it, so a shell sees 137).
    let gnu = std::process::Command::new("sh")
        .args(["-c", "timeout -s CONT -k 1 0.1 sleep 10; echo $?"])
        .output()
        .unwrap();
    assert_eq!(text(&gnu.stdout), "137\n", "timeout(1)");
}

const NEEDS_SIGKILL: [&str; 6] = [
    "--timeout",
    "100ms",
    "--kill-signal",
    "CONT",
    "--kill-after",
    "500ms",
];

case!(
    a_timeout_that_needs_sigkill_exits_137_as_timeout_1_does,
    |m| {
        m.argv(&NEEDS_SIGKILL, &["sleep", "10"])
            .assert()
            .code(137)
            .stderr(contains("then SIGKILL"));
        // The kill signal ending the child is still 124, even after a grace period was needed
        // for nothing.
        m.argv(
            &["--timeout", "100ms", "--kill-after", "5s"],
            &["sleep", "10"],
        )
        .assert()
        .code(124);
    }
);

case!(a_timeout_that_needs_sigkill_in_json, |m| {
    // --json still says timedOut, with the signal that ended it.
    let opts = [&NEEDS_SIGKILL[..], &["--json"]].concat();
    let out = m.argv(&opts, &["sleep", "10"]).output().unwrap();
    assert_eq!(out.status.code(), Some(137));
    let v = m.json_outcome(&out.stdout);
    if m.buffered() {
        assert_eq!(v["timedOut"], true);
    }
    assert_eq!(v["signal"], "SIGKILL");
});

case!(timeout_kills_grandchildren_and_keeps_earlier_output, |m| {
    for (k, opts) in m.outputs().into_iter().enumerate() {
        let (bg, fg) = (m.token("2345.4", k), m.token("2345.5", k));
        let _sweep = Sweep::new(&[&["sleep", &bg], &["sleep", &fg]]);
        let script = format!("echo before; echo err-before >&2; sleep {bg} & sleep {fg}; wait");
        let opts = [&["--timeout", "500ms"][..], opts].concat();
        let done = run_capped(&mut m.sh_std(&opts, &script), Feed::Null, SECS30);
        assert_eq!(done.code(), Some(124), "{opts:?}: {}", done.err());
        assert!(
            done.elapsed >= Duration::from_millis(450),
            "{:?}",
            done.elapsed
        );
        assert!(done.elapsed < SECS10, "{opts:?}: {:?}", done.elapsed);
        assert!(
            done.out().contains("before"),
            "{opts:?}: output before the kill is kept"
        );
        let err = done.err();
        assert!(err.contains("timed out"), "{opts:?}: {err}");
        assert!(err.lines().last().unwrap().contains("timed out"), "{err}");
        if opts.len() == 2 {
            assert_eq!(done.out(), "before\n");
            assert!(
                err.starts_with("err-before\n"),
                "captured stderr comes first: {err:?}"
            );
        }
        assert_none_left(
            &["sleep", &bg],
            Duration::from_secs(5),
            "background grandchild",
        );
        assert_none_left(
            &["sleep", &fg],
            Duration::from_secs(5),
            "foreground grandchild",
        );
    }
});

case!(preserve_status_and_kill_signal, |m| {
    for (opts, code) in [
        (&["--preserve-status"][..], 143),
        (&["--kill-signal", "INT"], 124),
        (&["--kill-signal", "INT", "--preserve-status"], 130),
        (&["--kill-signal", "KILL", "--preserve-status"], 137),
        (&["--kill-signal", "HUP", "--preserve-status"], 129),
    ] {
        let opts = [&["--timeout", "300ms"][..], opts].concat();
        let out = m
            .argv(&opts, &["sleep", "20"])
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{opts:?}: {}",
            text(&out.stderr)
        );
    }
});

case!(kill_signal_is_what_the_group_receives, |m| {
    let script = "trap 'echo got-int; exit 0' INT; trap 'echo got-term; exit 0' TERM; \
                  while :; do sleep 0.05; done";
    let opts = ["--timeout", "1s", "--kill-signal", "INT"];
    let out = m.sh(&opts, script).timeout(SECS30).output().unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(text(&out.stdout), "got-int\n");
});

case!(
    a_child_ignoring_term_is_killed_after_the_grace_period,
    |m| {
        let script = "trap '' TERM; echo ready; while :; do sleep 0.05; done";
        let t = Instant::now();
        let out = m
            .sh(&["--timeout", "300ms", "--kill-after", "500ms"], script)
            .timeout(SECS30)
            .output()
            .unwrap();
        // Ended by the SIGKILL after the grace period, not by TERM: 137, as timeout(1).
        assert_eq!(out.status.code(), Some(137));
        assert_eq!(text(&out.stdout), "ready\n");
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(750), "{took:?}");
        assert!(took < SECS10, "{took:?}");
        assert!(text(&out.stderr).contains("SIGKILL"));
        let script = "trap '' TERM; while :; do sleep 0.05; done";
        for extra in [&[][..], &["--preserve-status"]] {
            let opts = [&["--timeout", "300ms", "--kill-after", "300ms"][..], extra].concat();
            let out = m.sh(&opts, script).timeout(SECS30).output().unwrap();
            assert_eq!(out.status.code(), Some(137), "{extra:?}");
        }
    }
);

case!(a_child_ignoring_term_in_json, [exec, execfile], |m| {
    let script = "trap '' TERM; echo ready; while :; do sleep 0.05; done";
    let opts = ["--json", "--timeout", "1s", "--kill-after", "500ms"];
    let t = Instant::now();
    let out = m.sh(&opts, script).timeout(SECS30).output().unwrap();
    let took = t.elapsed();
    assert_eq!(
        out.status.code(),
        Some(137),
        "SIGKILLed after the grace period"
    );
    let v = json_of(&out);
    assert_eq!(v["stdout"], "ready\n", "output before the kill is kept");
    assert_eq!(v["signal"], "SIGKILL", "escalated");
    assert_eq!(v["timedOut"], true);
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < SECS10, "{took:?}");
});

case!(the_default_grace_period_is_two_seconds, |m| {
    let t = Instant::now();
    let out = m
        .sh(
            &["--timeout", "300ms", "--preserve-status"],
            "trap '' TERM; while :; do sleep 0.05; done",
        )
        .timeout(SECS30)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(137));
    assert!(took >= Duration::from_millis(2200), "{took:?}");
    assert!(took < SECS10, "{took:?}");
});

case!(kill_after_zero_never_escalates, |m| {
    let script = "trap 'echo got-term' TERM; i=0; while [ $i -lt 30 ]; do sleep 0.05; i=$((i+1)); \
                  done; echo survived";
    let out = m
        .sh(&["--timeout", "300ms", "--kill-after", "0"], script)
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "got-term\nsurvived\n");
});

case!(
    a_child_that_ends_in_time_or_of_the_signal_is_not_held_up,
    |m| {
        let t = Instant::now();
        let out = m
            .argv(
                &["--timeout", "300ms", "--kill-after", "20s"],
                &["sleep", "20"],
            )
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(124));
        assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
        let t = Instant::now();
        m.argv(&["--timeout", "20s"], &["echo", "quick"])
            .timeout(SECS30)
            .assert()
            .code(0)
            .stdout("quick\n")
            .stderr("");
        assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
        let t = Instant::now();
        m.sh(&["--timeout", "20s"], "echo quick; exit 5")
            .assert()
            .code(5)
            .stdout("quick\n")
            .stderr(contains("timed out").not());
        assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
    }
);

case!(
    a_grandchild_that_left_the_group_does_not_hang_a_timed_run,
    |m| {
        for (k, opts) in m.outputs().into_iter().enumerate() {
            let (escaped, own) = (m.token("2345.24", k), m.token("2345.25", k));
            let _sweep = Sweep::new(&[&["sleep", &escaped], &["sleep", &own]]);
            // The grandchild leaves the process group (setsid) and keeps stdout and stderr open.
            let script = format!("setsid sleep {escaped} & echo started; sleep {own}");
            let opts = [&["--timeout", "500ms", "--kill-after", "300ms"][..], opts].concat();
            let done = run_capped(&mut m.sh_std(&opts, &script), Feed::Null, SECS30);
            assert!(done.elapsed < SECS10, "{opts:?}: {:?}", done.elapsed);
            assert_eq!(done.code(), Some(124), "{opts:?}: {}", done.err());
            assert!(done.out().contains("started"), "{opts:?}: {}", done.out());
            if opts.len() == 4 {
                assert_eq!(done.out(), "started\n");
            }
            assert!(done.err().contains("timed out"), "{}", done.err());
            assert_none_left(
                &["sleep", &own],
                Duration::from_secs(5),
                "the child's own sleep",
            );
        }
    }
);

case!(
    a_grandchild_ignoring_the_signal_does_not_hang_a_timed_run,
    |m| {
        let gc = m.token("2345.26", 0);
        let _sweep = Sweep::new(&[&["sleep", &gc]]);
        // Same group, but it ignores TERM and --kill-after 0 never escalates: it outlives the
        // run with the output pipes open.
        let script = format!("(trap '' TERM; exec sleep {gc}) & echo started; sleep 20");
        let opts = ["--timeout", "500ms", "--kill-after", "0"];
        let done = run_capped(&mut m.sh_std(&opts, &script), Feed::Null, SECS30);
        assert!(done.elapsed < SECS10, "{:?}", done.elapsed);
        assert_eq!(done.code(), Some(124), "{}", done.err());
        assert_eq!(done.out(), "started\n");
    }
);

case!(
    a_grandchild_holding_the_pipe_after_the_child_exits_does_not_hang,
    |m| {
        let gc = m.token("2345.27", 0);
        let _sweep = Sweep::new(&[&["sleep", &gc]]);
        let script = format!("setsid sleep {gc} & echo started");
        let done = run_capped(
            &mut m.sh_std(&["--timeout", "500ms"], &script),
            Feed::Null,
            SECS30,
        );
        assert!(done.elapsed < SECS10, "{:?}", done.elapsed);
        assert_eq!(done.out(), "started\n");
        if m.buffered() {
            // Through pipes of the test's own: a buffered run's grandchild holds only childproc's
            // (spawn's would hold the test's, which is not childproc's to close).
            let t = Instant::now();
            let opts = ["--timeout", "300ms", "--kill-after", "300ms"];
            let out = m.sh(&opts, &script).output().unwrap();
            assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
            assert_eq!(text(&out.stdout), "started\n");
        }
    }
);

case!(
    timeout_escalates_to_kill_for_a_grandchild_ignoring_term,
    |m| {
        // The child dies of TERM at once, its background grandchild ignores TERM: only the
        // escalation to SIGKILL after --kill-after ends it ("grandchildren never survive").
        for (k, opts) in m.outputs().into_iter().enumerate() {
            let gc = m.token("2345.9", k);
            let _sweep = Sweep::new(&[&["sleep", &gc]]);
            let script = format!("(trap '' TERM; exec sleep {gc}) & wait");
            let opts = [&["--timeout", "500ms", "--kill-after", "300ms"][..], opts].concat();
            let done = run_capped(&mut m.sh_std(&opts, &script), Feed::Null, SECS30);
            assert_eq!(done.code(), Some(124), "{opts:?}: {}", done.err());
            assert!(done.elapsed < SECS10, "{opts:?}: {:?}", done.elapsed);
            assert_none_left(
                &["sleep", &gc],
                Duration::from_secs(5),
                &format!("{opts:?}: TERM-ignoring grandchild"),
            );
        }
    }
);
