
use builtin;
use str;

set edit:completion:arg-completer[childproc] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'childproc'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'childproc'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand spawn 'Run PROGRAM and stream its stdio live (no shell)'
            cand exec 'Run COMMAND_LINE through /bin/sh -c, buffer its output (--max-buffer)'
            cand execfile 'Run PROGRAM directly (no shell, every argument literal), buffer its output'
            cand fork 'Start a child with a Node.js IPC channel; JSON messages in (--send, stdin), out (stdout)'
            cand cluster 'Run jobs in parallel over a pool of worker processes (built-in tasks, IPC workers, or one process per job)'
            cand serve 'Run a supervised pool of server workers sharing listening sockets (Node''s cluster server mode, for any language)'
            cand generate 'Regenerate the committed shell completions and man pages'
            cand cluster-worker 'Worker role of `cluster --task`: runs built-in tasks sent over the IPC channel'
            cand cluster-remote 'Remote side of `cluster --hosts/--slurm`: runs a worker or --exec jobs for a primary that speaks to it over stdin/stdout'
            cand ipc-echo 'Child role: echo every IPC message back (what `fork` runs without PROGRAM)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'childproc;spawn'= {
            cand -C 'Working directory of the child'
            cand --cwd 'Working directory of the child'
            cand -e 'Add or override one environment variable of the child (repeatable); KEY= sets it empty'
            cand --env 'Add or override one environment variable of the child (repeatable); KEY= sets it empty'
            cand --timeout 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)'
            cand --kill-signal 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)'
            cand --kill-after 'Grace period before SIGKILL follows the kill signal (0 = never escalate)'
            cand --prefix 'Prefix each output line with TEMPLATE ({pid}, {name} are replaced)'
            cand --stdout 'Write the child''s stdout to FILE (created or truncated)'
            cand --stderr 'Write the child''s stderr to FILE (created or truncated)'
            cand --restart 'Keep the program alive: run it again whenever it ends (on-failure: with a non-zero status or a signal; always: whatever the status), with exponential backoff; a signal to childproc stops it for good (exit 0 once the program has ended within --kill-after)'
            cand --max-restarts 'With --restart: give up after N restarts within --restart-window (exit 125)'
            cand --restart-window 'With --restart: the window --max-restarts counts restarts in'
            cand --env-clear 'Start the child from an empty environment, then apply --env'
            cand --preserve-status 'On timeout, exit with the child''s status instead of 124'
            cand --json 'Print a JSON-lines event stream (spawn, stdout, stderr, exit) on stdout'
            cand --merge 'Send the child''s stderr to the same place as its stdout (2>&1)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;exec'= {
            cand -C 'Working directory of the child'
            cand --cwd 'Working directory of the child'
            cand -e 'Add or override one environment variable of the child (repeatable); KEY= sets it empty'
            cand --env 'Add or override one environment variable of the child (repeatable); KEY= sets it empty'
            cand --timeout 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)'
            cand --kill-signal 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)'
            cand --kill-after 'Grace period before SIGKILL follows the kill signal (0 = never escalate)'
            cand --max-buffer 'Largest output kept per stream (1048576, 64KiB, 1MiB; 0 allowed); more kills the child'
            cand --input 'Feed STRING to the child''s stdin (instead of childproc''s stdin)'
            cand --input-file 'Feed FILE to the child''s stdin'
            cand --encoding 'How output bytes appear in --json'
            cand --shell 'The shell that runs COMMAND_LINE'
            cand --env-clear 'Start the child from an empty environment, then apply --env'
            cand --preserve-status 'On timeout, exit with the child''s status instead of 124'
            cand --json 'Print one JSON result object instead of the raw output'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;execfile'= {
            cand -C 'Working directory of the child'
            cand --cwd 'Working directory of the child'
            cand -e 'Add or override one environment variable of the child (repeatable); KEY= sets it empty'
            cand --env 'Add or override one environment variable of the child (repeatable); KEY= sets it empty'
            cand --timeout 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)'
            cand --kill-signal 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)'
            cand --kill-after 'Grace period before SIGKILL follows the kill signal (0 = never escalate)'
            cand --max-buffer 'Largest output kept per stream (1048576, 64KiB, 1MiB; 0 allowed); more kills the child'
            cand --input 'Feed STRING to the child''s stdin (instead of childproc''s stdin)'
            cand --input-file 'Feed FILE to the child''s stdin'
            cand --encoding 'How output bytes appear in --json'
            cand --env-clear 'Start the child from an empty environment, then apply --env'
            cand --preserve-status 'On timeout, exit with the child''s status instead of 124'
            cand --json 'Print one JSON result object instead of the raw output'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;fork'= {
            cand -C 'Working directory of the child'
            cand --cwd 'Working directory of the child'
            cand -e 'Add or override one environment variable of the child (repeatable); KEY= sets it empty'
            cand --env 'Add or override one environment variable of the child (repeatable); KEY= sets it empty'
            cand --timeout 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)'
            cand --kill-signal 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)'
            cand --kill-after 'Grace period before SIGKILL follows the kill signal (0 = never escalate)'
            cand --send 'Send this JSON message first (repeatable, in order; then each non-blank stdin line)'
            cand --listen 'Bind a listening socket before the child starts (PORT, HOST:PORT, [V6]:PORT or unix:PATH; port 0 picks one, said on stderr) and hand it to the child as a net.Server handle with the --send-server message, as child.send(msg, server) does'
            cand --send-server 'The message the --listen socket travels with (JSON; default "server"), sent before any --send or stdin message; in Node: process.on(''message'', (m, server) => …)'
            cand --node 'The node binary used for PROGRAM ending in .js, .mjs or .cjs'
            cand --disconnect 'When to half-close the channel (the child sees ''disconnect''): on-input-end = once input has ended and the child has read it and gone quiet (no messages, no CPU use); never = leave it open until the child closes it or exits; after:N = once input has ended and the child has sent N messages'
            cand --serialization 'Wire format of the channel, as Node''s `serialization` option: json (one JSON text per line) or advanced (V8''s structured clone: BigInt, Map, Set, Date, Buffer, cycles…; on stdin/stdout they appear in a tagged JSON form, see the README)'
            cand --env-clear 'Start the child from an empty environment, then apply --env'
            cand --preserve-status 'On timeout, exit with the child''s status instead of 124'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;cluster'= {
            cand -w 'Number of worker processes: N, N% of this machine''s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel''s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine''s cores, not each host''s); with --slurm: the allocation''s task count'
            cand -j 'Number of worker processes: N, N% of this machine''s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel''s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine''s cores, not each host''s); with --slurm: the allocation''s task count'
            cand --workers 'Number of worker processes: N, N% of this machine''s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel''s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine''s cores, not each host''s); with --slurm: the allocation''s task count'
            cand --jobs 'Number of worker processes: N, N% of this machine''s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel''s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine''s cores, not each host''s); with --slurm: the allocation''s task count'
            cand --task 'Built-in CPU task run by pooled childproc workers; each input is N'
            cand --worker 'Persistent worker command speaking the Node IPC protocol (e.g. ''node worker.js'')'
            cand --exec 'One process per job; {} is replaced by the input (appended when absent)'
            cand --serialization 'With --worker: the channel''s wire format, as Node''s `serialization` option (json, or advanced: inputs and results in the tagged JSON form of fork --serialization advanced)'
            cand -a 'An input source: one input per line of FILE (''-'' is stdin); repeatable, before the sources named by INPUTS'
            cand --arg-file 'An input source: one input per line of FILE (''-'' is stdin); repeatable, before the sources named by INPUTS'
            cand --colsep 'Split each input at REGEX into columns: each column is one argument ({1}, {2}, ...)'
            cand --tagstring 'Prefix every output line with STR (replacement strings such as {1} or {#} allowed) and a TAB; wins over --tag'
            cand --results 'Write each job''s output into files instead of printing it: DIR/1/<arg 1>/2/<arg 2>/.../ holds stdout, stderr, seq (GNU parallel''s layout; ''/'' in a value is written \_, ''\'' as \\), plus exitcode (the status as a shell''s $? shows it: 128+N for signal N) and job.json (the job''s --json record). With replacement strings DIR names the stdout file, with .err, .seq, .exitcode and .job.json beside it (ending in ''/'': a directory holding stdout, stderr, ...)'
            cand --retries 'Retry a failed job (non-zero exit, signal, crashed worker, timeout) up to N times'
            cand --job-timeout 'Kill a job (its process group) that runs longer than DURATION (0 = no limit), or than N% (over 100) of the median runtime of the jobs that succeeded so far; the percentage sets no limit until 3 jobs have succeeded'
            cand --halt 'Start no more jobs once a condition is met, as GNU parallel: never, or WHEN,WHY=N|N% with WHEN now (also kill running jobs) or soon (let them finish), WHY fail, success or done, N% of all jobs (of the jobs taken so far when inputs come from stdin). now and soon are now,fail=1 and soon,fail=1; GNU''s 0, 1, 2, -1, -2 and N% also work. A run stopped on success exits 0 unless a job failed on its own'
            cand --delay 'Start no job sooner than DURATION after the previous one started (GNU parallel''s --delay: seconds, e.g. 0.5, or with units: 1.5s, 1m30s, 300ms)'
            cand --joblog 'Write GNU parallel''s joblog (TSV, same columns and meanings) to FILE'
            cand --hosts 'Run slots on these machines over ssh: [N/][user@]host[:port],... (N slots, default 1 or --workers; '':'' is this machine)'
            cand --hosts-file 'Read --hosts entries from FILE, one per line (# comments)'
            cand --ssh 'The ssh client and its options, split like a shell would (e.g. ''ssh -F cfg'')'
            cand --remote-childproc 'The childproc binary on the remote side (default: ''childproc'' on the remote PATH over ssh; this binary''s own path under Slurm)'
            cand --slurm-args 'Extra srun options (e.g. ''-p debug -t 10''), split like a shell would; implies --slurm'
            cand --kill-signal 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)'
            cand --kill-after 'Grace period before SIGKILL follows the kill signal (0 = never escalate)'
            cand --shell 'With --exec: run the template through /bin/sh -c, every value shell-quoted'
            cand -0 'Inputs read from stdin or files end with a NUL byte, not a newline'
            cand --null 'Inputs read from stdin or files end with a NUL byte, not a newline'
            cand -k 'Print results in input order (default: completion order)'
            cand --keep-order 'Print results in input order (default: completion order)'
            cand --json 'One JSON object per job: seq, input, ok, output, error, worker, pid, attempts, durationMs'
            cand --line-buffer 'Print each complete line of a job''s stdout (stderr: to stderr) as soon as it arrives; lines of different jobs interleave, a line is never cut (one longer than 1 MiB goes out in 1 MiB pieces), an unfinished last line goes out at the job''s end as it is. With -k the oldest job still to be printed writes live and the others'' lines are held until it is their turn (as GNU parallel does)'
            cand --lb 'Print each complete line of a job''s stdout (stderr: to stderr) as soon as it arrives; lines of different jobs interleave, a line is never cut (one longer than 1 MiB goes out in 1 MiB pieces), an unfinished last line goes out at the job''s end as it is. With -k the oldest job still to be printed writes live and the others'' lines are held until it is their turn (as GNU parallel does)'
            cand -u 'The jobs'' stdout and stderr are ours: output passes straight through as it is written (half lines of different jobs may mix; the joblog''s Receive is 0; -k orders nothing). --tag and --tagstring do not apply (refused)'
            cand --ungroup 'The jobs'' stdout and stderr are ours: output passes straight through as it is written (half lines of different jobs may mix; the joblog''s Receive is 0; -k orders nothing). --tag and --tagstring do not apply (refused)'
            cand --tag 'Prefix every output line (stdout and stderr) with the job''s arguments joined by spaces, and a TAB'
            cand --resume 'Skip every job the --joblog FILE already has a row for, whatever its exit status, and append the rest''s rows; jobs are matched by content (the command set and the job''s arguments, the Key column), not by number'
            cand --resume-failed 'As --resume, but only jobs with a row that says they succeeded are skipped: failed ones run again'
            cand --retry-failed 'Run again the jobs the --joblog FILE says failed, as its Command column gives them (the command line''s template and inputs are not used), appending their rows'
            cand --progress 'Draw a progress bar on stderr (default when stderr is a terminal)'
            cand --no-progress 'Never draw a progress bar'
            cand --slurm 'Run slots as Slurm job steps (srun) of the current allocation; --workers defaults to its task count'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;serve'= {
            cand -w 'Number of worker processes (default: available parallelism)'
            cand --workers 'Number of worker processes (default: available parallelism)'
            cand -l 'Bind ADDR before any worker starts and pass it to every worker by socket activation (repeatable): PORT, HOST:PORT, [V6]:PORT or unix:PATH, optionally NAME=ADDR'
            cand --listen 'Bind ADDR before any worker starts and pass it to every worker by socket activation (repeatable): PORT, HOST:PORT, [V6]:PORT or unix:PATH, optionally NAME=ADDR'
            cand --sched 'Node workers: round-robin hand-off by childproc, or the shared socket (default: $NODE_CLUSTER_SCHED_POLICY, else rr)'
            cand --ready 'When a worker counts as ready (a reload waits for it before stopping the old one)'
            cand --ready-timeout 'A replacement not ready after DURATION is stopped, and the old worker kept'
            cand --stop-signal 'Signal that asks a worker to stop gracefully (reload, shutdown)'
            cand --kill-after 'Grace period before SIGKILL follows the stop signal (0 = never escalate)'
            cand --max-restarts 'Give a slot up after N restarts within --restart-window'
            cand --restart-window 'The window --max-restarts counts restarts in'
            cand --prefix 'Prefix each worker output line with TEMPLATE ({id}, {slot}, {pid} are replaced)'
            cand --events 'Write lifecycle events to FILE as JSON lines'
            cand --node 'The node binary used for PROGRAM ending in .js, .mjs or .cjs'
            cand -C 'Working directory of the workers'
            cand --cwd 'Working directory of the workers'
            cand -e 'Add or override one environment variable of the workers (repeatable)'
            cand --env 'Add or override one environment variable of the workers (repeatable)'
            cand --no-prefix 'Workers write straight to childproc''s stdout and stderr (no prefix, no re-emission)'
            cand --env-clear 'Start the workers from an empty environment, then apply --env'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;generate'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;cluster-worker'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;cluster-remote'= {
            cand --task 'Relay for a pooled built-in task worker'
            cand --worker 'Relay for this IPC worker command (shell-words)'
            cand --serialization 'With --worker: the worker''s channel serialization (json or advanced)'
            cand --job-timeout 'Kill an --exec job that runs longer than DURATION'
            cand --kill-signal 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)'
            cand --kill-after 'Grace period before SIGKILL follows the kill signal (0 = never escalate)'
            cand --exec 'Serve --exec jobs sent as JSON requests'
            cand --announce-starts 'With --exec: say when each job has started (its pid), so a job killed before it answers is still reported with its pid. Not under srun: its I/O forwarding delays a second small line per job by ~10 ms (measured: 12 ms per job instead of 1)'
            cand --stream-output 'With --exec: send each job''s output as it arrives (output notes), not in its reply (--line-buffer, --ungroup and --results on the primary)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;ipc-echo'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;help'= {
            cand spawn 'Run PROGRAM and stream its stdio live (no shell)'
            cand exec 'Run COMMAND_LINE through /bin/sh -c, buffer its output (--max-buffer)'
            cand execfile 'Run PROGRAM directly (no shell, every argument literal), buffer its output'
            cand fork 'Start a child with a Node.js IPC channel; JSON messages in (--send, stdin), out (stdout)'
            cand cluster 'Run jobs in parallel over a pool of worker processes (built-in tasks, IPC workers, or one process per job)'
            cand serve 'Run a supervised pool of server workers sharing listening sockets (Node''s cluster server mode, for any language)'
            cand generate 'Regenerate the committed shell completions and man pages'
            cand cluster-worker 'Worker role of `cluster --task`: runs built-in tasks sent over the IPC channel'
            cand cluster-remote 'Remote side of `cluster --hosts/--slurm`: runs a worker or --exec jobs for a primary that speaks to it over stdin/stdout'
            cand ipc-echo 'Child role: echo every IPC message back (what `fork` runs without PROGRAM)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'childproc;help;spawn'= {
        }
        &'childproc;help;exec'= {
        }
        &'childproc;help;execfile'= {
        }
        &'childproc;help;fork'= {
        }
        &'childproc;help;cluster'= {
        }
        &'childproc;help;serve'= {
        }
        &'childproc;help;generate'= {
        }
        &'childproc;help;cluster-worker'= {
        }
        &'childproc;help;cluster-remote'= {
        }
        &'childproc;help;ipc-echo'= {
        }
        &'childproc;help;help'= {
        }
    ]
    $completions[$command]
}
