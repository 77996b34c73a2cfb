# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_childproc_global_optspecs
    string join \n h/help V/version
end

function __fish_childproc_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_childproc_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_childproc_using_subcommand
    set -l cmd (__fish_childproc_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c childproc -n "__fish_childproc_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c childproc -n "__fish_childproc_needs_command" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "spawn" -d 'Run PROGRAM and stream its stdio live (no shell)'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "exec" -d 'Run COMMAND_LINE through /bin/sh -c, buffer its output (--max-buffer)'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "execfile" -d 'Run PROGRAM directly (no shell, every argument literal), buffer its output'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "fork" -d 'Start a child with a Node.js IPC channel; JSON messages in (--send, stdin), out (stdout)'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "cluster" -d 'Run jobs in parallel over a pool of worker processes (built-in tasks, IPC workers, or one process per job)'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "serve" -d 'Run a supervised pool of server workers sharing listening sockets (Node\'s cluster server mode, for any language)'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "generate" -d 'Regenerate the committed shell completions and man pages'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "cluster-worker" -d 'Worker role of `cluster --task`: runs built-in tasks sent over the IPC channel'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "cluster-remote" -d 'Remote side of `cluster --hosts/--slurm`: runs a worker or --exec jobs for a primary that speaks to it over stdin/stdout'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "ipc-echo" -d 'Child role: echo every IPC message back (what `fork` runs without PROGRAM)'
complete -c childproc -n "__fish_childproc_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -s C -l cwd -d 'Working directory of the child' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -s e -l env -d 'Add or override one environment variable of the child (repeatable); KEY= sets it empty' -r
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l timeout -d 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)' -r
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l kill-signal -d 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)' -r
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l kill-after -d 'Grace period before SIGKILL follows the kill signal (0 = never escalate)' -r
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l prefix -d 'Prefix each output line with TEMPLATE ({pid}, {name} are replaced)' -r
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l stdout -d 'Write the child\'s stdout to FILE (created or truncated)' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l stderr -d 'Write the child\'s stderr to FILE (created or truncated)' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l restart -d 'Keep the program alive: run it again whenever it ends (on-failure: with a non-zero status or a signal; always: whatever the status), with exponential backoff; a signal to childproc stops it for good (exit 0 once the program has ended within --kill-after)' -r -f -a "never\t'Run it once (the default)'
on-failure\t'Again after it ends with a non-zero status or a signal'
always\t'Again after every end'"
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l max-restarts -d 'With --restart: give up after N restarts within --restart-window (exit 125)' -r
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l restart-window -d 'With --restart: the window --max-restarts counts restarts in' -r
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l env-clear -d 'Start the child from an empty environment, then apply --env'
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l preserve-status -d 'On timeout, exit with the child\'s status instead of 124'
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l json -d 'Print a JSON-lines event stream (spawn, stdout, stderr, exit) on stdout'
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -l merge -d 'Send the child\'s stderr to the same place as its stdout (2>&1)'
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c childproc -n "__fish_childproc_using_subcommand spawn" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand exec" -s C -l cwd -d 'Working directory of the child' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand exec" -s e -l env -d 'Add or override one environment variable of the child (repeatable); KEY= sets it empty' -r
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l timeout -d 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)' -r
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l kill-signal -d 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)' -r
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l kill-after -d 'Grace period before SIGKILL follows the kill signal (0 = never escalate)' -r
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l max-buffer -d 'Largest output kept per stream (1048576, 64KiB, 1MiB; 0 allowed); more kills the child' -r
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l input -d 'Feed STRING to the child\'s stdin (instead of childproc\'s stdin)' -r
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l input-file -d 'Feed FILE to the child\'s stdin' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l encoding -d 'How output bytes appear in --json' -r -f -a "utf8\t'UTF-8, invalid sequences replaced by U+FFFD'
base64\t'Standard base64 of the exact bytes'"
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l shell -d 'The shell that runs COMMAND_LINE' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l env-clear -d 'Start the child from an empty environment, then apply --env'
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l preserve-status -d 'On timeout, exit with the child\'s status instead of 124'
complete -c childproc -n "__fish_childproc_using_subcommand exec" -l json -d 'Print one JSON result object instead of the raw output'
complete -c childproc -n "__fish_childproc_using_subcommand exec" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c childproc -n "__fish_childproc_using_subcommand exec" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -s C -l cwd -d 'Working directory of the child' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -s e -l env -d 'Add or override one environment variable of the child (repeatable); KEY= sets it empty' -r
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l timeout -d 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)' -r
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l kill-signal -d 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)' -r
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l kill-after -d 'Grace period before SIGKILL follows the kill signal (0 = never escalate)' -r
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l max-buffer -d 'Largest output kept per stream (1048576, 64KiB, 1MiB; 0 allowed); more kills the child' -r
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l input -d 'Feed STRING to the child\'s stdin (instead of childproc\'s stdin)' -r
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l input-file -d 'Feed FILE to the child\'s stdin' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l encoding -d 'How output bytes appear in --json' -r -f -a "utf8\t'UTF-8, invalid sequences replaced by U+FFFD'
base64\t'Standard base64 of the exact bytes'"
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l env-clear -d 'Start the child from an empty environment, then apply --env'
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l preserve-status -d 'On timeout, exit with the child\'s status instead of 124'
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -l json -d 'Print one JSON result object instead of the raw output'
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c childproc -n "__fish_childproc_using_subcommand execfile" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand fork" -s C -l cwd -d 'Working directory of the child' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand fork" -s e -l env -d 'Add or override one environment variable of the child (repeatable); KEY= sets it empty' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l timeout -d 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l kill-signal -d 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l kill-after -d 'Grace period before SIGKILL follows the kill signal (0 = never escalate)' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l send -d 'Send this JSON message first (repeatable, in order; then each non-blank stdin line)' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l listen -d 'Bind a listening socket before the child starts (PORT, HOST:PORT, [V6]:PORT or unix:PATH; port 0 picks one, said on stderr) and hand it to the child as a net.Server handle with the --send-server message, as child.send(msg, server) does' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l send-server -d 'The message the --listen socket travels with (JSON; default "server"), sent before any --send or stdin message; in Node: process.on(\'message\', (m, server) => …)' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l node -d 'The node binary used for PROGRAM ending in .js, .mjs or .cjs' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l disconnect -d 'When to half-close the channel (the child sees \'disconnect\'): on-input-end = once input has ended and the child has read it and gone quiet (no messages, no CPU use); never = leave it open until the child closes it or exits; after:N = once input has ended and the child has sent N messages' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l serialization -d 'Wire format of the channel, as Node\'s `serialization` option: json (one JSON text per line) or advanced (V8\'s structured clone: BigInt, Map, Set, Date, Buffer, cycles…; on stdin/stdout they appear in a tagged JSON form, see the README)' -r
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l env-clear -d 'Start the child from an empty environment, then apply --env'
complete -c childproc -n "__fish_childproc_using_subcommand fork" -l preserve-status -d 'On timeout, exit with the child\'s status instead of 124'
complete -c childproc -n "__fish_childproc_using_subcommand fork" -s h -l help -d 'Print help'
complete -c childproc -n "__fish_childproc_using_subcommand fork" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -s w -s j -l workers -l jobs -d 'Number of worker processes: N, N% of this machine\'s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel\'s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine\'s cores, not each host\'s); with --slurm: the allocation\'s task count' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l task -d 'Built-in CPU task run by pooled childproc workers; each input is N' -r -f -a "fib\t'Naive recursive Fibonacci of N (N <= 93, the largest that fits in 64 bits)'
sum\t'Sum of 0..=N computed in a loop'
primes\t'Count the primes below N (N <= 2*10^9)'
spin\t'Busy-loop for N milliseconds (at most a day)'"
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l worker -d 'Persistent worker command speaking the Node IPC protocol (e.g. \'node worker.js\')' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l exec -d 'One process per job; {} is replaced by the input (appended when absent)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l serialization -d 'With --worker: the channel\'s wire format, as Node\'s `serialization` option (json, or advanced: inputs and results in the tagged JSON form of fork --serialization advanced)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -s a -l arg-file -d 'An input source: one input per line of FILE (\'-\' is stdin); repeatable, before the sources named by INPUTS' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l colsep -d 'Split each input at REGEX into columns: each column is one argument ({1}, {2}, ...)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l tagstring -d 'Prefix every output line with STR (replacement strings such as {1} or {#} allowed) and a TAB; wins over --tag' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l results -d 'Write each job\'s output into files instead of printing it: DIR/1/<arg 1>/2/<arg 2>/.../ holds stdout, stderr, seq (GNU parallel\'s layout; \'/\' in a value is written \\_, \'\\\' as \\\\), plus exitcode (the status as a shell\'s $? shows it: 128+N for signal N) and job.json (the job\'s --json record). With replacement strings DIR names the stdout file, with .err, .seq, .exitcode and .job.json beside it (ending in \'/\': a directory holding stdout, stderr, ...)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l retries -d 'Retry a failed job (non-zero exit, signal, crashed worker, timeout) up to N times' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l job-timeout -d 'Kill a job (its process group) that runs longer than DURATION (0 = no limit), or than N% (over 100) of the median runtime of the jobs that succeeded so far; the percentage sets no limit until 3 jobs have succeeded' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l halt -d 'Start no more jobs once a condition is met, as GNU parallel: never, or WHEN,WHY=N|N% with WHEN now (also kill running jobs) or soon (let them finish), WHY fail, success or done, N% of all jobs (of the jobs taken so far when inputs come from stdin). now and soon are now,fail=1 and soon,fail=1; GNU\'s 0, 1, 2, -1, -2 and N% also work. A run stopped on success exits 0 unless a job failed on its own' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l delay -d 'Start no job sooner than DURATION after the previous one started (GNU parallel\'s --delay: seconds, e.g. 0.5, or with units: 1.5s, 1m30s, 300ms)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l joblog -d 'Write GNU parallel\'s joblog (TSV, same columns and meanings) to FILE' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l hosts -d 'Run slots on these machines over ssh: [N/][user@]host[:port],... (N slots, default 1 or --workers; \':\' is this machine)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l hosts-file -d 'Read --hosts entries from FILE, one per line (# comments)' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l ssh -d 'The ssh client and its options, split like a shell would (e.g. \'ssh -F cfg\')' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l remote-childproc -d 'The childproc binary on the remote side (default: \'childproc\' on the remote PATH over ssh; this binary\'s own path under Slurm)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l slurm-args -d 'Extra srun options (e.g. \'-p debug -t 10\'), split like a shell would; implies --slurm' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l kill-signal -d 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l kill-after -d 'Grace period before SIGKILL follows the kill signal (0 = never escalate)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l shell -d 'With --exec: run the template through /bin/sh -c, every value shell-quoted'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -s 0 -l null -d 'Inputs read from stdin or files end with a NUL byte, not a newline'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -s k -l keep-order -d 'Print results in input order (default: completion order)'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l json -d 'One JSON object per job: seq, input, ok, output, error, worker, pid, attempts, durationMs'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l line-buffer -l lb -d 'Print each complete line of a job\'s stdout (stderr: to stderr) as soon as it arrives; lines of different jobs interleave, a line is never cut (one longer than 1 MiB goes out in 1 MiB pieces), an unfinished last line goes out at the job\'s end as it is. With -k the oldest job still to be printed writes live and the others\' lines are held until it is their turn (as GNU parallel does)'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -s u -l ungroup -d 'The jobs\' stdout and stderr are ours: output passes straight through as it is written (half lines of different jobs may mix; the joblog\'s Receive is 0; -k orders nothing). --tag and --tagstring do not apply (refused)'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l tag -d 'Prefix every output line (stdout and stderr) with the job\'s arguments joined by spaces, and a TAB'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l resume -d 'Skip every job the --joblog FILE already has a row for, whatever its exit status, and append the rest\'s rows; jobs are matched by content (the command set and the job\'s arguments, the Key column), not by number'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l resume-failed -d 'As --resume, but only jobs with a row that says they succeeded are skipped: failed ones run again'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l retry-failed -d 'Run again the jobs the --joblog FILE says failed, as its Command column gives them (the command line\'s template and inputs are not used), appending their rows'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l progress -d 'Draw a progress bar on stderr (default when stderr is a terminal)'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l no-progress -d 'Never draw a progress bar'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -l slurm -d 'Run slots as Slurm job steps (srun) of the current allocation; --workers defaults to its task count'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c childproc -n "__fish_childproc_using_subcommand cluster" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand serve" -s w -l workers -d 'Number of worker processes (default: available parallelism)' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -s l -l listen -d 'Bind ADDR before any worker starts and pass it to every worker by socket activation (repeatable): PORT, HOST:PORT, [V6]:PORT or unix:PATH, optionally NAME=ADDR' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l sched -d 'Node workers: round-robin hand-off by childproc, or the shared socket (default: $NODE_CLUSTER_SCHED_POLICY, else rr)' -r -f -a "rr\t'childproc accepts each connection and hands it to the next free worker'
none\t'The listening socket itself is shared; the kernel picks the worker'"
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l ready -d 'When a worker counts as ready (a reload waits for it before stopping the old one)' -r -f -a "auto\t'The first sign of any kind; with --listen, as soon as the worker has started'
started\t'As soon as the worker has started'
notify\t'READY=1 on $NOTIFY_SOCKET (sd_notify)'
message\t'The IPC message \'ready\' (pm2\'s process.send(\'ready\'))'
listening\t'Node\'s cluster \'listening\' message'"
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l ready-timeout -d 'A replacement not ready after DURATION is stopped, and the old worker kept' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l stop-signal -d 'Signal that asks a worker to stop gracefully (reload, shutdown)' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l kill-after -d 'Grace period before SIGKILL follows the stop signal (0 = never escalate)' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l max-restarts -d 'Give a slot up after N restarts within --restart-window' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l restart-window -d 'The window --max-restarts counts restarts in' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l prefix -d 'Prefix each worker output line with TEMPLATE ({id}, {slot}, {pid} are replaced)' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l events -d 'Write lifecycle events to FILE as JSON lines' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l node -d 'The node binary used for PROGRAM ending in .js, .mjs or .cjs' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -s C -l cwd -d 'Working directory of the workers' -r -F
complete -c childproc -n "__fish_childproc_using_subcommand serve" -s e -l env -d 'Add or override one environment variable of the workers (repeatable)' -r
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l no-prefix -d 'Workers write straight to childproc\'s stdout and stderr (no prefix, no re-emission)'
complete -c childproc -n "__fish_childproc_using_subcommand serve" -l env-clear -d 'Start the workers from an empty environment, then apply --env'
complete -c childproc -n "__fish_childproc_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c childproc -n "__fish_childproc_using_subcommand serve" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand generate" -s h -l help -d 'Print help'
complete -c childproc -n "__fish_childproc_using_subcommand generate" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand cluster-worker" -s h -l help -d 'Print help'
complete -c childproc -n "__fish_childproc_using_subcommand cluster-worker" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l task -d 'Relay for a pooled built-in task worker' -r -f -a "fib\t'Naive recursive Fibonacci of N (N <= 93, the largest that fits in 64 bits)'
sum\t'Sum of 0..=N computed in a loop'
primes\t'Count the primes below N (N <= 2*10^9)'
spin\t'Busy-loop for N milliseconds (at most a day)'"
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l worker -d 'Relay for this IPC worker command (shell-words)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l serialization -d 'With --worker: the worker\'s channel serialization (json or advanced)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l job-timeout -d 'Kill an --exec job that runs longer than DURATION' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l kill-signal -d 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l kill-after -d 'Grace period before SIGKILL follows the kill signal (0 = never escalate)' -r
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l exec -d 'Serve --exec jobs sent as JSON requests'
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l announce-starts -d 'With --exec: say when each job has started (its pid), so a job killed before it answers is still reported with its pid. Not under srun: its I/O forwarding delays a second small line per job by ~10 ms (measured: 12 ms per job instead of 1)'
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -l stream-output -d 'With --exec: send each job\'s output as it arrives (output notes), not in its reply (--line-buffer, --ungroup and --results on the primary)'
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c childproc -n "__fish_childproc_using_subcommand cluster-remote" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand ipc-echo" -s h -l help -d 'Print help'
complete -c childproc -n "__fish_childproc_using_subcommand ipc-echo" -s V -l version -d 'Print version'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "spawn" -d 'Run PROGRAM and stream its stdio live (no shell)'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "exec" -d 'Run COMMAND_LINE through /bin/sh -c, buffer its output (--max-buffer)'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "execfile" -d 'Run PROGRAM directly (no shell, every argument literal), buffer its output'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "fork" -d 'Start a child with a Node.js IPC channel; JSON messages in (--send, stdin), out (stdout)'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "cluster" -d 'Run jobs in parallel over a pool of worker processes (built-in tasks, IPC workers, or one process per job)'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "serve" -d 'Run a supervised pool of server workers sharing listening sockets (Node\'s cluster server mode, for any language)'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "generate" -d 'Regenerate the committed shell completions and man pages'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "cluster-worker" -d 'Worker role of `cluster --task`: runs built-in tasks sent over the IPC channel'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "cluster-remote" -d 'Remote side of `cluster --hosts/--slurm`: runs a worker or --exec jobs for a primary that speaks to it over stdin/stdout'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "ipc-echo" -d 'Child role: echo every IPC message back (what `fork` runs without PROGRAM)'
complete -c childproc -n "__fish_childproc_using_subcommand help; and not __fish_seen_subcommand_from spawn exec execfile fork cluster serve generate cluster-worker cluster-remote ipc-echo help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
