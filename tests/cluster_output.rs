//! `cluster --exec` output options — `--tag`, `--tagstring`, `--line-buffer`, `--ungroup`,
//! `--results` — against GNU parallel 20221122 (`parallel --will-cite`, installed by
//! `.ci/run`): the same job set through both, compared exactly with `-k`, as multisets
//! without. Jobs run through a shell on both sides (`--shell` for childproc).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::*;

const LONG: Duration = Duration::from_secs(60);

/// GNU parallel's command line: OPTS TEMPLATE INPUTS.
fn gnu_cmd(dir: &Path, opts: &[&str], template: &str, inputs: &[&str]) -> Command {
    let mut c = Command::new("parallel");
    c.current_dir(dir)
        .arg("--will-cite")
        .args(opts)
        .arg(template)
        .args(inputs)
        .stdin(Stdio::null());
    c
}

/// childproc's command line for the same job set (GNU's `-jN` is our `-w N`).
fn our_cmd(dir: &Path, opts: &[&str], template: &str, inputs: &[&str]) -> Command {
    let mut c = cp_std();
    c.current_dir(dir)
        .args(["cluster", "--no-progress", "--shell", "--exec", template]);
    for o in opts {
        match o.strip_prefix("-j") {
            Some(n) => c.args(["-w", n]),
            None => c.arg(o),
        };
    }
    c.args(inputs).stdin(Stdio::null());
    c
}

fn output(mut c: Command) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c.output().expect("start")
}

/// Our stderr without our own lines (the summary, failures; one may follow a job's
/// unfinished last line), as GNU parallel prints it.
fn jobs_stderr(out: &Output) -> String {
    let mut err = text(&out.stderr);
    while let Some(at) = err.find("childproc: ") {
        let end = err[at..].find('\n').map_or(err.len(), |n| at + n + 1);
        err.replace_range(at..end, "");
    }
    err
}

/// Both runs of one job set, each in its own directory under `dir`; both must succeed with
/// the same exit code.
fn both(dir: &Path, opts: &[&str], template: &str, inputs: &[&str]) -> (Output, Output) {
    let (gd, od) = (dir.join("gnu"), dir.join("ours"));
    std::fs::create_dir_all(&gd).unwrap();
    std::fs::create_dir_all(&od).unwrap();
    let g = output(gnu_cmd(&gd, opts, template, inputs));
    let o = output(our_cmd(&od, opts, template, inputs));
    assert_eq!(
        o.status.code(),
        g.status.code(),
        "exit codes differ; GNU's stderr: {}; ours: {}",
        text(&g.stderr),
        text(&o.stderr)
    );
    (g, o)
}

/// Both print exactly the same on stdout and (jobs' part) on stderr.
fn same(opts: &[&str], template: &str, inputs: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (g, o) = both(dir.path(), opts, template, inputs);
    assert_eq!(
        text(&o.stdout),
        text(&g.stdout),
        "{opts:?} {template}: stdout of childproc (left) and GNU parallel (right) differ"
    );
    assert_eq!(
        jobs_stderr(&o),
        text(&g.stderr),
        "{opts:?} {template}: stderr of childproc (left) and GNU parallel (right) differ"
    );
    text(&o.stdout)
}

fn sorted_lines(b: &[u8]) -> Vec<String> {
    let mut l = lines(b);
    l.sort();
    l
}

#[test]
fn tag_and_tagstring_match_gnu_parallel() {
    let out = same(&["-k", "--tag"], "echo hi", &[":::", "a", "b", ":::", "1"]);
    assert_eq!(out, "a 1\thi a 1\nb 1\thi b 1\n");
    let out = same(
        &["-k", "--tagstring", "<{1}>"],
        "echo hi",
        &[":::", "a", "b", ":::", "1"],
    );
    assert_eq!(out, "<a>\thi a 1\n<b>\thi b 1\n");
    // Every line of both streams, empty lines, a carriage return, an unfinished last line.
    let messy = r"printf 'x\n\ny\rz\n'; echo err {} >&2; printf 'e2' >&2; printf 'end {}'";
    same(
        &["-k", "--tag"],
        messy,
        &[":::", "a", "b c", ":::", "1", "2"],
    );
    same(
        &["-k", "--tagstring", "[{2}|{1/}]"],
        messy,
        &[":::", "d/a", "b", ":::", "1", "2"],
    );
    // GNU parallel 20221122 renders {#} in a tag when it prints, not for the job (job 1 of
    // the set above is tagged 2 there); ours is the job's own number.
    let dir = tempfile::tempdir().unwrap();
    let out = output(our_cmd(
        dir.path(),
        &["-k", "--tagstring", "{#}:{}"],
        "echo",
        &[":::", "a", "b", "c"],
    ));
    assert_eq!(text(&out.stdout), "1:a\ta\n2:b\tb\n3:c\tc\n");
    // Tagged line by line, and a job without output gets no tag at all.
    same(&["-k", "--tag", "--lb"], messy, &[":::", "a", "b"]);
    same(&["-k", "--tag"], "true", &[":::", "a", "b"]);
    // Without -k: the same lines.
    let dir = tempfile::tempdir().unwrap();
    let (g, o) = both(
        dir.path(),
        &["--tag", "-j3"],
        "echo {}; echo x",
        &[":::", "1", "2", "3", "4"],
    );
    assert_eq!(sorted_lines(&o.stdout), sorted_lines(&g.stdout));
    assert_eq!(lines(&o.stdout).len(), 8);
}

#[test]
fn tag_counts_the_jobs_own_bytes_in_the_joblog() {
    let dir = tempfile::tempdir().unwrap();
    let (g, o) = both(
        dir.path(),
        &["--tag", "--joblog", "log"],
        "echo hi",
        &[":::", "a"],
    );
    assert!(g.status.success() && o.status.success());
    let receive = |d: &str| {
        let log = std::fs::read_to_string(dir.path().join(d).join("log")).unwrap();
        log.lines()
            .nth(1)
            .unwrap()
            .split('\t')
            .nth(5)
            .unwrap()
            .to_string()
    };
    assert_eq!(receive("ours"), receive("gnu"));
    assert_eq!(receive("ours"), "5");
}

/// A job set that prints `<id> start`, waits until the file `go` exists, then prints
/// `<id> end`; run live.
const WAIT_FOR_GO: &str = "echo {} start; while [ ! -e go ]; do sleep 0.01; done; echo {} end";

/// Runs `cmd` (whose jobs wait for `dir/go`) live: both start lines must arrive while the jobs
/// still wait, then `go` lets them end. Returns everything printed.
fn starts_arrive_before_the_end(mut cmd: Command, dir: &Path, ids: &[&str]) -> Vec<u8> {
    let mut live = Live::start(&mut cmd);
    for _ in ids {
        live.wait_for(LONG, |l| l.ends_with(" start"));
    }
    assert!(!dir.join("go").exists());
    std::fs::write(dir.join("go"), "").unwrap();
    let (st, out, err) = live.finish(LONG);
    assert!(st.success(), "{}", text(&err));
    out
}

#[test]
fn line_buffer_prints_each_line_as_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [":::", "a", "b"];
    let (gd, od) = (dir.path().join("gnu"), dir.path().join("ours"));
    std::fs::create_dir_all(&gd).unwrap();
    std::fs::create_dir_all(&od).unwrap();
    let g = starts_arrive_before_the_end(
        gnu_cmd(&gd, &["--lb", "-j2"], WAIT_FOR_GO, &ids),
        &gd,
        &ids[1..],
    );
    let o = starts_arrive_before_the_end(
        our_cmd(&od, &["--line-buffer", "-j2"], WAIT_FOR_GO, &ids),
        &od,
        &ids[1..],
    );
    assert_eq!(sorted_lines(&o), sorted_lines(&g));
    assert_eq!(sorted_lines(&o), ["a end", "a start", "b end", "b start"]);
    // Grouped (the default), the same jobs print nothing before they end: `go` first.
    std::fs::write(od.join("go"), "").unwrap();
    let out = output(our_cmd(&od, &["-k"], WAIT_FOR_GO, &ids));
    assert_eq!(text(&out.stdout), "a start\na end\nb start\nb end\n");
}

#[test]
fn keep_order_line_buffer_holds_later_jobs_until_their_turn() {
    // Job a prints live; job b ends first, but its lines wait until a has ended.
    let template =
        "echo {} start; while [ ! -e go_{} ]; do sleep 0.01; done; echo {} end; touch done_{}";
    let run = |mut cmd: Command, dir: &Path| {
        let mut live = Live::start(&mut cmd);
        live.wait_for_line("a start", LONG);
        std::fs::write(dir.join("go_b"), "").unwrap();
        wait_until(LONG, "job b to end", || dir.join("done_b").exists());
        std::fs::write(dir.join("go_a"), "").unwrap();
        let (st, out, err) = live.finish(LONG);
        assert!(st.success(), "{}", text(&err));
        text(&out)
    };
    let dir = tempfile::tempdir().unwrap();
    let (gd, od) = (dir.path().join("gnu"), dir.path().join("ours"));
    std::fs::create_dir_all(&gd).unwrap();
    std::fs::create_dir_all(&od).unwrap();
    let g = run(
        gnu_cmd(&gd, &["-k", "--lb", "-j2"], template, &[":::", "a", "b"]),
        &gd,
    );
    let o = run(
        our_cmd(&od, &["-k", "--lb", "-j2"], template, &[":::", "a", "b"]),
        &od,
    );
    assert_eq!(o, g);
    assert_eq!(o, "a start\na end\nb start\nb end\n");
}

#[test]
fn long_lines_of_many_jobs_are_never_split() {
    // 12 jobs, 4 at a time, each 30 lines of 100,000 bytes (more than a pipe holds), most of
    // them read in several pieces; every line must come out whole.
    let template = "yes \"$(head -c 99999 /dev/zero | tr '\\0' x){}\" | head -n 30";
    let ids: Vec<String> = (0..12).map(|i| ((b'A' + i) as char).to_string()).collect();
    let mut inputs = vec![":::"];
    inputs.extend(ids.iter().map(String::as_str));
    let check = |out: &[u8], tag: bool| {
        let all = text(out);
        assert!(all.ends_with('\n'));
        let mut per_job: BTreeMap<String, usize> = BTreeMap::new();
        for l in all.lines() {
            let (id, body) = if tag {
                let (t, rest) = l.split_once('\t').expect("tagged");
                (t.to_string(), rest)
            } else {
                (l[l.len() - 1..].to_string(), l)
            };
            assert_eq!(
                body.len(),
                100_000,
                "a line was cut or joined: {}…",
                &l[..40.min(l.len())]
            );
            assert!(
                body[..99_999].bytes().all(|b| b == b'x') && body.ends_with(&id),
                "{id}"
            );
            *per_job.entry(id).or_default() += 1;
        }
        assert_eq!(per_job.len(), 12);
        assert!(per_job.values().all(|&n| n == 30), "{per_job:?}");
    };
    let dir = tempfile::tempdir().unwrap();
    for opts in [&["--lb", "-j4"][..], &["--lb", "--tag", "-j4"][..]] {
        let (g, o) = both(dir.path(), opts, template, &inputs);
        let tag = opts.contains(&"--tag");
        check(&g.stdout, tag);
        check(&o.stdout, tag);
        assert_eq!(sorted_lines(&o.stdout), sorted_lines(&g.stdout));
    }
}

#[test]
fn ungroup_passes_output_straight_through() {
    let dir = tempfile::tempdir().unwrap();
    let (g, o) = both(
        dir.path(),
        &["-u", "--joblog", "log"],
        "echo {}; echo {} err >&2",
        &[":::", "1", "2", "3"],
    );
    assert_eq!(sorted_lines(&o.stdout), sorted_lines(&g.stdout));
    assert_eq!(sorted_lines(&o.stdout), ["1", "2", "3"]);
    // GNU parallel never sees the bytes, so its joblog's Receive is 0; so is ours.
    for d in ["gnu", "ours"] {
        let log = std::fs::read_to_string(dir.path().join(d).join("log")).unwrap();
        for row in log.lines().skip(1) {
            assert_eq!(row.split('\t').nth(5), Some("0"), "{d}: {row}");
        }
    }
    // Output arrives as it is written, before the job ends.
    let od = dir.path().join("ours");
    let out = starts_arrive_before_the_end(
        our_cmd(&od, &["-u", "-j2"], WAIT_FOR_GO, &[":::", "a", "b"]),
        &od,
        &["a", "b"],
    );
    assert_eq!(sorted_lines(&out), ["a end", "a start", "b end", "b start"]);
}

/// Every file under `root`, by path relative to it, with its contents.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// `ours` is GNU's tree plus, beside each `seq`, an exit code and a record; those are
/// returned (path of the job's `seq` file without its name → (exitcode, job.json)).
fn ours_is_gnu_plus(
    gnu: &BTreeMap<PathBuf, Vec<u8>>,
    ours: &BTreeMap<PathBuf, Vec<u8>>,
    extra: [&str; 2],
) -> BTreeMap<PathBuf, (String, serde_json::Value)> {
    let mut only_ours = ours.clone();
    for (p, content) in gnu {
        assert_eq!(
            only_ours.remove(p).as_ref().map(|c| text(c)),
            Some(text(content)),
            "{}",
            p.display()
        );
    }
    let mut jobs = BTreeMap::new();
    for p in gnu.keys().filter(|p| p.to_string_lossy().ends_with("seq")) {
        // `…/seq` in a job's directory, `NAME.seq` beside a named stdout file.
        let s = p.to_string_lossy();
        let cut = if s.ends_with(".seq") { 4 } else { 3 };
        let base = PathBuf::from(&s[..s.len() - cut]);
        let code = only_ours
            .remove(&PathBuf::from(format!("{}{}", base.display(), extra[0])))
            .unwrap_or_else(|| panic!("no {} for {}", extra[0], p.display()));
        let json = only_ours
            .remove(&PathBuf::from(format!("{}{}", base.display(), extra[1])))
            .unwrap_or_else(|| panic!("no {} for {}", extra[1], p.display()));
        let json = text(&json);
        assert!(
            json.ends_with('\n') && json.matches('\n').count() == 1,
            "{json:?}"
        );
        jobs.insert(base, (text(&code), serde_json::from_str(&json).unwrap()));
    }
    assert!(
        only_ours.is_empty(),
        "files GNU parallel has not: {:?}",
        only_ours.keys()
    );
    jobs
}

#[test]
fn results_tree_matches_gnu_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let template = "echo out {}; echo err {} >&2; printf 'no newline'; [ {2} = 2 ] && exit 3; true";
    let inputs = [":::", "a/b", "c d", "x\\y", "é", ":::", "1", "2"];
    let (g, o) = both(dir.path(), &["--results", "res"], template, &inputs);
    // Nothing is printed: it is all in the files.
    assert_eq!(g.status.code(), Some(4));
    assert!(
        g.stdout.is_empty() && o.stdout.is_empty(),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(jobs_stderr(&o), "");
    let gt = tree(&dir.path().join("gnu/res"));
    let ot = tree(&dir.path().join("ours/res"));
    assert!(
        gt.contains_key(Path::new("1/a\\_b/2/1/stdout")),
        "{:?}",
        gt.keys()
    );
    assert_eq!(gt.len(), 8 * 3);
    let jobs = ours_is_gnu_plus(&gt, &ot, ["exitcode", "job.json"]);
    assert_eq!(jobs.len(), 8);
    for (base, (code, rec)) in &jobs {
        let stdout = text(&ot[&base.join("stdout")]);
        let failed = base.to_string_lossy().ends_with("/2/2/");
        assert_eq!(code, if failed { "3" } else { "0" }, "{}", base.display());
        assert_eq!(rec["output"], serde_json::json!(stdout));
        assert_eq!(rec["ok"], serde_json::json!(!failed));
        assert_eq!(rec["seq"].to_string(), text(&ot[&base.join("seq")]));
        assert!(
            rec["input"]
                .as_str()
                .unwrap()
                .ends_with(if failed { " 2" } else { " 1" })
        );
    }
}

#[test]
fn results_job_json_is_the_json_record() {
    let dir = tempfile::tempdir().unwrap();
    let template = r#"printf 'a\tb\n\001"q"\\'; printf '\303'; printf '\251 '; printf {}; exit {}"#;
    let inputs = [":::", "0", "1", "2"];
    let rec = output(our_cmd(dir.path(), &["--json", "-k"], template, &inputs));
    let recs = json_lines(&rec.stdout);
    let out = output(our_cmd(dir.path(), &["--results", "r"], template, &inputs));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    for r in recs {
        let input = r["input"].as_str().unwrap();
        let path = dir.path().join(format!("r/1/{input}/job.json"));
        let mut saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut want = r.clone();
        for k in ["pid", "durationMs", "worker"] {
            saved[k] = serde_json::Value::Null;
            want[k] = serde_json::Value::Null;
        }
        assert_eq!(saved, want);
        assert_eq!(keys(&saved), keys(&want));
        let code = std::fs::read_to_string(dir.path().join(format!("r/1/{input}/exitcode")));
        assert_eq!(code.unwrap(), input);
    }
    // A job killed by a signal: 128+N, as a shell's $? says.
    let out = output(our_cmd(
        dir.path(),
        &["--results", "k"],
        "kill -9 $$",
        &[":::", "x"],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("k/1/x/exitcode")).unwrap(),
        "137"
    );
}

#[test]
fn results_named_by_replacement_strings_match_gnu_parallel() {
    let template = "echo o {}; echo e >&2";
    let inputs = [":::", "a", "b/c", ":::", "1"];
    for (dir_arg, extra) in [
        ("r/{1}-{2}.out", [".exitcode", ".job.json"]),
        ("r/{1}/", ["exitcode", "job.json"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (g, o) = both(dir.path(), &["--results", dir_arg], template, &inputs);
        assert!(o.status.success() && o.stdout.is_empty() && g.stdout.is_empty());
        let gt = tree(&dir.path().join("gnu/r"));
        let ot = tree(&dir.path().join("ours/r"));
        assert_eq!(gt.len(), 6, "{dir_arg}: {:?}", gt.keys());
        // Named: `.seq` beside the stdout file, so the job's base is the stdout file's name.
        let gt_seq: BTreeMap<PathBuf, Vec<u8>> = gt.clone();
        let jobs = ours_is_gnu_plus(&gt_seq, &ot, extra);
        assert_eq!(jobs.len(), 2, "{dir_arg}");
        assert!(
            jobs.values()
                .all(|(code, rec)| code == "0" && rec["ok"] == true)
        );
    }
}

#[test]
fn results_names_gnu_parallel_gets_wrong_stay_inside_and_apart() {
    let dir = tempfile::tempdir().unwrap();
    let long = "v".repeat(300);
    let long2 = format!("{}w", "v".repeat(299));
    let inputs = [":::", ".", "..", "", "\\e", &long, &long2];
    let out = output(our_cmd(
        dir.path(),
        &["--results", "res"],
        "printf '%s\\n' {}",
        &inputs,
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = tree(&dir.path().join("res"));
    // Each job its own directory, inside res/1/.
    let seqs: Vec<(PathBuf, String)> = t
        .iter()
        .filter(|(p, _)| p.ends_with("seq"))
        .map(|(p, c)| (p.clone(), text(c)))
        .collect();
    assert_eq!(seqs.len(), 6, "{:?}", t.keys());
    let mut seen: Vec<String> = seqs.iter().map(|(_, s)| s.clone()).collect();
    seen.sort();
    assert_eq!(seen, ["1", "2", "3", "4", "5", "6"]);
    for (p, _) in &seqs {
        assert_eq!(p.components().count(), 3, "{}", p.display());
        assert!(p.starts_with("1"));
        let name = p
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.len() <= 255 && name != "." && name != ".." && !name.is_empty());
    }
    for (name, input) in [
        ("\\.", "."),
        ("\\.\\.", ".."),
        ("\\e", ""),
        ("\\\\e", "\\e"),
    ] {
        assert_eq!(
            text(&t[&Path::new("1").join(name).join("stdout")]),
            format!("{input}\n")
        );
    }
}

#[test]
fn a_job_whose_results_cannot_be_written_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("r")).unwrap();
    std::fs::write(dir.path().join("r/blocker"), "").unwrap();
    let out = output(our_cmd(
        dir.path(),
        &["--results", "r/{}/", "-k"],
        "touch ran_$(basename {})",
        &[":::", "blocker/x", "ok"],
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("job 1 (blocker/x) failed: --results: ") && err.contains("Not a directory"),
        "{err}"
    );
    assert!(!dir.path().join("ran_x").exists(), "the job must not run");
    assert!(dir.path().join("ran_ok").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r/ok/exitcode")).unwrap(),
        "0"
    );
}

#[test]
fn bad_output_options_are_one_line_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["--tagstring", "{..}"], "unknown replacement string {..}"),
        (&["--tagstring", "{3}"], "--tagstring '{3}'"),
        (
            &["--results", "file/r"],
            "--results file/r: cannot create the directory",
        ),
        (&["--results", "r/{..}"], "unknown replacement string"),
        (&["--results", "out.json"], "one-file formats"),
        (&["--tag", "-u"], "--tag does not apply with --ungroup"),
        (&["--lb", "--json"], "cannot be combined with --json"),
        (&["--lb", "-u"], "--ungroup"),
    ];
    for (opts, want) in cases {
        let out = output(our_cmd(dir.path(), opts, "touch ran", &[":::", "x"]));
        let line = assert_one_line_error(&out, 125);
        assert!(line.contains(want), "{opts:?}: {line}");
        assert!(!dir.path().join("ran").exists(), "{opts:?}: a job ran");
    }
    let out = cp()
        .args(["cluster", "--task", "sum", "--tag", "1"])
        .output()
        .unwrap();
    assert!(assert_one_line_error(&out, 125).contains("--tag only applies to --exec"));
}
