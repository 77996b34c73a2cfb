
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'childproc' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'childproc'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'childproc' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('spawn', 'spawn', [CompletionResultType]::ParameterValue, 'Run PROGRAM and stream its stdio live (no shell)')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run COMMAND_LINE through /bin/sh -c, buffer its output (--max-buffer)')
            [CompletionResult]::new('execfile', 'execfile', [CompletionResultType]::ParameterValue, 'Run PROGRAM directly (no shell, every argument literal), buffer its output')
            [CompletionResult]::new('fork', 'fork', [CompletionResultType]::ParameterValue, 'Start a child with a Node.js IPC channel; JSON messages in (--send, stdin), out (stdout)')
            [CompletionResult]::new('cluster', 'cluster', [CompletionResultType]::ParameterValue, 'Run jobs in parallel over a pool of worker processes (built-in tasks, IPC workers, or one process per job)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a supervised pool of server workers sharing listening sockets (Node''s cluster server mode, for any language)')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Regenerate the committed shell completions and man pages')
            [CompletionResult]::new('cluster-worker', 'cluster-worker', [CompletionResultType]::ParameterValue, 'Worker role of `cluster --task`: runs built-in tasks sent over the IPC channel')
            [CompletionResult]::new('cluster-remote', 'cluster-remote', [CompletionResultType]::ParameterValue, 'Remote side of `cluster --hosts/--slurm`: runs a worker or --exec jobs for a primary that speaks to it over stdin/stdout')
            [CompletionResult]::new('ipc-echo', 'ipc-echo', [CompletionResultType]::ParameterValue, 'Child role: echo every IPC message back (what `fork` runs without PROGRAM)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'childproc;spawn' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Working directory of the child')
            [CompletionResult]::new('--cwd', '--cwd', [CompletionResultType]::ParameterName, 'Working directory of the child')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the child (repeatable); KEY= sets it empty')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the child (repeatable); KEY= sets it empty')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)')
            [CompletionResult]::new('--kill-signal', '--kill-signal', [CompletionResultType]::ParameterName, 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace period before SIGKILL follows the kill signal (0 = never escalate)')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Prefix each output line with TEMPLATE ({pid}, {name} are replaced)')
            [CompletionResult]::new('--stdout', '--stdout', [CompletionResultType]::ParameterName, 'Write the child''s stdout to FILE (created or truncated)')
            [CompletionResult]::new('--stderr', '--stderr', [CompletionResultType]::ParameterName, 'Write the child''s stderr to FILE (created or truncated)')
            [CompletionResult]::new('--restart', '--restart', [CompletionResultType]::ParameterName, 'Keep the program alive: run it again whenever it ends (on-failure: with a non-zero status or a signal; always: whatever the status), with exponential backoff; a signal to childproc stops it for good (exit 0 once the program has ended within --kill-after)')
            [CompletionResult]::new('--max-restarts', '--max-restarts', [CompletionResultType]::ParameterName, 'With --restart: give up after N restarts within --restart-window (exit 125)')
            [CompletionResult]::new('--restart-window', '--restart-window', [CompletionResultType]::ParameterName, 'With --restart: the window --max-restarts counts restarts in')
            [CompletionResult]::new('--env-clear', '--env-clear', [CompletionResultType]::ParameterName, 'Start the child from an empty environment, then apply --env')
            [CompletionResult]::new('--preserve-status', '--preserve-status', [CompletionResultType]::ParameterName, 'On timeout, exit with the child''s status instead of 124')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON-lines event stream (spawn, stdout, stderr, exit) on stdout')
            [CompletionResult]::new('--merge', '--merge', [CompletionResultType]::ParameterName, 'Send the child''s stderr to the same place as its stdout (2>&1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;exec' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Working directory of the child')
            [CompletionResult]::new('--cwd', '--cwd', [CompletionResultType]::ParameterName, 'Working directory of the child')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the child (repeatable); KEY= sets it empty')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the child (repeatable); KEY= sets it empty')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)')
            [CompletionResult]::new('--kill-signal', '--kill-signal', [CompletionResultType]::ParameterName, 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace period before SIGKILL follows the kill signal (0 = never escalate)')
            [CompletionResult]::new('--max-buffer', '--max-buffer', [CompletionResultType]::ParameterName, 'Largest output kept per stream (1048576, 64KiB, 1MiB; 0 allowed); more kills the child')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'Feed STRING to the child''s stdin (instead of childproc''s stdin)')
            [CompletionResult]::new('--input-file', '--input-file', [CompletionResultType]::ParameterName, 'Feed FILE to the child''s stdin')
            [CompletionResult]::new('--encoding', '--encoding', [CompletionResultType]::ParameterName, 'How output bytes appear in --json')
            [CompletionResult]::new('--shell', '--shell', [CompletionResultType]::ParameterName, 'The shell that runs COMMAND_LINE')
            [CompletionResult]::new('--env-clear', '--env-clear', [CompletionResultType]::ParameterName, 'Start the child from an empty environment, then apply --env')
            [CompletionResult]::new('--preserve-status', '--preserve-status', [CompletionResultType]::ParameterName, 'On timeout, exit with the child''s status instead of 124')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON result object instead of the raw output')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;execfile' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Working directory of the child')
            [CompletionResult]::new('--cwd', '--cwd', [CompletionResultType]::ParameterName, 'Working directory of the child')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the child (repeatable); KEY= sets it empty')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the child (repeatable); KEY= sets it empty')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)')
            [CompletionResult]::new('--kill-signal', '--kill-signal', [CompletionResultType]::ParameterName, 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace period before SIGKILL follows the kill signal (0 = never escalate)')
            [CompletionResult]::new('--max-buffer', '--max-buffer', [CompletionResultType]::ParameterName, 'Largest output kept per stream (1048576, 64KiB, 1MiB; 0 allowed); more kills the child')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'Feed STRING to the child''s stdin (instead of childproc''s stdin)')
            [CompletionResult]::new('--input-file', '--input-file', [CompletionResultType]::ParameterName, 'Feed FILE to the child''s stdin')
            [CompletionResult]::new('--encoding', '--encoding', [CompletionResultType]::ParameterName, 'How output bytes appear in --json')
            [CompletionResult]::new('--env-clear', '--env-clear', [CompletionResultType]::ParameterName, 'Start the child from an empty environment, then apply --env')
            [CompletionResult]::new('--preserve-status', '--preserve-status', [CompletionResultType]::ParameterName, 'On timeout, exit with the child''s status instead of 124')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON result object instead of the raw output')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;fork' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Working directory of the child')
            [CompletionResult]::new('--cwd', '--cwd', [CompletionResultType]::ParameterName, 'Working directory of the child')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the child (repeatable); KEY= sets it empty')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the child (repeatable); KEY= sets it empty')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)')
            [CompletionResult]::new('--kill-signal', '--kill-signal', [CompletionResultType]::ParameterName, 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace period before SIGKILL follows the kill signal (0 = never escalate)')
            [CompletionResult]::new('--send', '--send', [CompletionResultType]::ParameterName, 'Send this JSON message first (repeatable, in order; then each non-blank stdin line)')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Bind a listening socket before the child starts (PORT, HOST:PORT, [V6]:PORT or unix:PATH; port 0 picks one, said on stderr) and hand it to the child as a net.Server handle with the --send-server message, as child.send(msg, server) does')
            [CompletionResult]::new('--send-server', '--send-server', [CompletionResultType]::ParameterName, 'The message the --listen socket travels with (JSON; default "server"), sent before any --send or stdin message; in Node: process.on(''message'', (m, server) => …)')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'The node binary used for PROGRAM ending in .js, .mjs or .cjs')
            [CompletionResult]::new('--disconnect', '--disconnect', [CompletionResultType]::ParameterName, 'When to half-close the channel (the child sees ''disconnect''): on-input-end = once input has ended and the child has read it and gone quiet (no messages, no CPU use); never = leave it open until the child closes it or exits; after:N = once input has ended and the child has sent N messages')
            [CompletionResult]::new('--serialization', '--serialization', [CompletionResultType]::ParameterName, 'Wire format of the channel, as Node''s `serialization` option: json (one JSON text per line) or advanced (V8''s structured clone: BigInt, Map, Set, Date, Buffer, cycles…; on stdin/stdout they appear in a tagged JSON form, see the README)')
            [CompletionResult]::new('--env-clear', '--env-clear', [CompletionResultType]::ParameterName, 'Start the child from an empty environment, then apply --env')
            [CompletionResult]::new('--preserve-status', '--preserve-status', [CompletionResultType]::ParameterName, 'On timeout, exit with the child''s status instead of 124')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;cluster' {
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Number of worker processes: N, N% of this machine''s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel''s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine''s cores, not each host''s); with --slurm: the allocation''s task count')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Number of worker processes: N, N% of this machine''s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel''s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine''s cores, not each host''s); with --slurm: the allocation''s task count')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Number of worker processes: N, N% of this machine''s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel''s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine''s cores, not each host''s); with --slurm: the allocation''s task count')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Number of worker processes: N, N% of this machine''s cores (rounded down), or +N/-N relative to them; at least 1 (0 is refused: GNU parallel''s -j 0, "as many as possible", is not supported). Default: available parallelism; with --hosts: slots per host that gives no N/ (relative forms count this machine''s cores, not each host''s); with --slurm: the allocation''s task count')
            [CompletionResult]::new('--task', '--task', [CompletionResultType]::ParameterName, 'Built-in CPU task run by pooled childproc workers; each input is N')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Persistent worker command speaking the Node IPC protocol (e.g. ''node worker.js'')')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'One process per job; {} is replaced by the input (appended when absent)')
            [CompletionResult]::new('--serialization', '--serialization', [CompletionResultType]::ParameterName, 'With --worker: the channel''s wire format, as Node''s `serialization` option (json, or advanced: inputs and results in the tagged JSON form of fork --serialization advanced)')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'An input source: one input per line of FILE (''-'' is stdin); repeatable, before the sources named by INPUTS')
            [CompletionResult]::new('--arg-file', '--arg-file', [CompletionResultType]::ParameterName, 'An input source: one input per line of FILE (''-'' is stdin); repeatable, before the sources named by INPUTS')
            [CompletionResult]::new('--colsep', '--colsep', [CompletionResultType]::ParameterName, 'Split each input at REGEX into columns: each column is one argument ({1}, {2}, ...)')
            [CompletionResult]::new('--tagstring', '--tagstring', [CompletionResultType]::ParameterName, 'Prefix every output line with STR (replacement strings such as {1} or {#} allowed) and a TAB; wins over --tag')
            [CompletionResult]::new('--results', '--results', [CompletionResultType]::ParameterName, 'Write each job''s output into files instead of printing it: DIR/1/<arg 1>/2/<arg 2>/.../ holds stdout, stderr, seq (GNU parallel''s layout; ''/'' in a value is written \_, ''\'' as \\), plus exitcode (the status as a shell''s $? shows it: 128+N for signal N) and job.json (the job''s --json record). With replacement strings DIR names the stdout file, with .err, .seq, .exitcode and .job.json beside it (ending in ''/'': a directory holding stdout, stderr, ...)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retry a failed job (non-zero exit, signal, crashed worker, timeout) up to N times')
            [CompletionResult]::new('--job-timeout', '--job-timeout', [CompletionResultType]::ParameterName, 'Kill a job (its process group) that runs longer than DURATION (0 = no limit), or than N% (over 100) of the median runtime of the jobs that succeeded so far; the percentage sets no limit until 3 jobs have succeeded')
            [CompletionResult]::new('--halt', '--halt', [CompletionResultType]::ParameterName, 'Start no more jobs once a condition is met, as GNU parallel: never, or WHEN,WHY=N|N% with WHEN now (also kill running jobs) or soon (let them finish), WHY fail, success or done, N% of all jobs (of the jobs taken so far when inputs come from stdin). now and soon are now,fail=1 and soon,fail=1; GNU''s 0, 1, 2, -1, -2 and N% also work. A run stopped on success exits 0 unless a job failed on its own')
            [CompletionResult]::new('--delay', '--delay', [CompletionResultType]::ParameterName, 'Start no job sooner than DURATION after the previous one started (GNU parallel''s --delay: seconds, e.g. 0.5, or with units: 1.5s, 1m30s, 300ms)')
            [CompletionResult]::new('--joblog', '--joblog', [CompletionResultType]::ParameterName, 'Write GNU parallel''s joblog (TSV, same columns and meanings) to FILE')
            [CompletionResult]::new('--hosts', '--hosts', [CompletionResultType]::ParameterName, 'Run slots on these machines over ssh: [N/][user@]host[:port],... (N slots, default 1 or --workers; '':'' is this machine)')
            [CompletionResult]::new('--hosts-file', '--hosts-file', [CompletionResultType]::ParameterName, 'Read --hosts entries from FILE, one per line (# comments)')
            [CompletionResult]::new('--ssh', '--ssh', [CompletionResultType]::ParameterName, 'The ssh client and its options, split like a shell would (e.g. ''ssh -F cfg'')')
            [CompletionResult]::new('--remote-childproc', '--remote-childproc', [CompletionResultType]::ParameterName, 'The childproc binary on the remote side (default: ''childproc'' on the remote PATH over ssh; this binary''s own path under Slurm)')
            [CompletionResult]::new('--slurm-args', '--slurm-args', [CompletionResultType]::ParameterName, 'Extra srun options (e.g. ''-p debug -t 10''), split like a shell would; implies --slurm')
            [CompletionResult]::new('--kill-signal', '--kill-signal', [CompletionResultType]::ParameterName, 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace period before SIGKILL follows the kill signal (0 = never escalate)')
            [CompletionResult]::new('--shell', '--shell', [CompletionResultType]::ParameterName, 'With --exec: run the template through /bin/sh -c, every value shell-quoted')
            [CompletionResult]::new('-0', '-0', [CompletionResultType]::ParameterName, 'Inputs read from stdin or files end with a NUL byte, not a newline')
            [CompletionResult]::new('--null', '--null', [CompletionResultType]::ParameterName, 'Inputs read from stdin or files end with a NUL byte, not a newline')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Print results in input order (default: completion order)')
            [CompletionResult]::new('--keep-order', '--keep-order', [CompletionResultType]::ParameterName, 'Print results in input order (default: completion order)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per job: seq, input, ok, output, error, worker, pid, attempts, durationMs')
            [CompletionResult]::new('--line-buffer', '--line-buffer', [CompletionResultType]::ParameterName, 'Print each complete line of a job''s stdout (stderr: to stderr) as soon as it arrives; lines of different jobs interleave, a line is never cut (one longer than 1 MiB goes out in 1 MiB pieces), an unfinished last line goes out at the job''s end as it is. With -k the oldest job still to be printed writes live and the others'' lines are held until it is their turn (as GNU parallel does)')
            [CompletionResult]::new('--lb', '--lb', [CompletionResultType]::ParameterName, 'Print each complete line of a job''s stdout (stderr: to stderr) as soon as it arrives; lines of different jobs interleave, a line is never cut (one longer than 1 MiB goes out in 1 MiB pieces), an unfinished last line goes out at the job''s end as it is. With -k the oldest job still to be printed writes live and the others'' lines are held until it is their turn (as GNU parallel does)')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'The jobs'' stdout and stderr are ours: output passes straight through as it is written (half lines of different jobs may mix; the joblog''s Receive is 0; -k orders nothing). --tag and --tagstring do not apply (refused)')
            [CompletionResult]::new('--ungroup', '--ungroup', [CompletionResultType]::ParameterName, 'The jobs'' stdout and stderr are ours: output passes straight through as it is written (half lines of different jobs may mix; the joblog''s Receive is 0; -k orders nothing). --tag and --tagstring do not apply (refused)')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Prefix every output line (stdout and stderr) with the job''s arguments joined by spaces, and a TAB')
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'Skip every job the --joblog FILE already has a row for, whatever its exit status, and append the rest''s rows; jobs are matched by content (the command set and the job''s arguments, the Key column), not by number')
            [CompletionResult]::new('--resume-failed', '--resume-failed', [CompletionResultType]::ParameterName, 'As --resume, but only jobs with a row that says they succeeded are skipped: failed ones run again')
            [CompletionResult]::new('--retry-failed', '--retry-failed', [CompletionResultType]::ParameterName, 'Run again the jobs the --joblog FILE says failed, as its Command column gives them (the command line''s template and inputs are not used), appending their rows')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Draw a progress bar on stderr (default when stderr is a terminal)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw a progress bar')
            [CompletionResult]::new('--slurm', '--slurm', [CompletionResultType]::ParameterName, 'Run slots as Slurm job steps (srun) of the current allocation; --workers defaults to its task count')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;serve' {
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Number of worker processes (default: available parallelism)')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Number of worker processes (default: available parallelism)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Bind ADDR before any worker starts and pass it to every worker by socket activation (repeatable): PORT, HOST:PORT, [V6]:PORT or unix:PATH, optionally NAME=ADDR')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Bind ADDR before any worker starts and pass it to every worker by socket activation (repeatable): PORT, HOST:PORT, [V6]:PORT or unix:PATH, optionally NAME=ADDR')
            [CompletionResult]::new('--sched', '--sched', [CompletionResultType]::ParameterName, 'Node workers: round-robin hand-off by childproc, or the shared socket (default: $NODE_CLUSTER_SCHED_POLICY, else rr)')
            [CompletionResult]::new('--ready', '--ready', [CompletionResultType]::ParameterName, 'When a worker counts as ready (a reload waits for it before stopping the old one)')
            [CompletionResult]::new('--ready-timeout', '--ready-timeout', [CompletionResultType]::ParameterName, 'A replacement not ready after DURATION is stopped, and the old worker kept')
            [CompletionResult]::new('--stop-signal', '--stop-signal', [CompletionResultType]::ParameterName, 'Signal that asks a worker to stop gracefully (reload, shutdown)')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace period before SIGKILL follows the stop signal (0 = never escalate)')
            [CompletionResult]::new('--max-restarts', '--max-restarts', [CompletionResultType]::ParameterName, 'Give a slot up after N restarts within --restart-window')
            [CompletionResult]::new('--restart-window', '--restart-window', [CompletionResultType]::ParameterName, 'The window --max-restarts counts restarts in')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Prefix each worker output line with TEMPLATE ({id}, {slot}, {pid} are replaced)')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Write lifecycle events to FILE as JSON lines')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'The node binary used for PROGRAM ending in .js, .mjs or .cjs')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Working directory of the workers')
            [CompletionResult]::new('--cwd', '--cwd', [CompletionResultType]::ParameterName, 'Working directory of the workers')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the workers (repeatable)')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Add or override one environment variable of the workers (repeatable)')
            [CompletionResult]::new('--no-prefix', '--no-prefix', [CompletionResultType]::ParameterName, 'Workers write straight to childproc''s stdout and stderr (no prefix, no re-emission)')
            [CompletionResult]::new('--env-clear', '--env-clear', [CompletionResultType]::ParameterName, 'Start the workers from an empty environment, then apply --env')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;generate' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;cluster-worker' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;cluster-remote' {
            [CompletionResult]::new('--task', '--task', [CompletionResultType]::ParameterName, 'Relay for a pooled built-in task worker')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Relay for this IPC worker command (shell-words)')
            [CompletionResult]::new('--serialization', '--serialization', [CompletionResultType]::ParameterName, 'With --worker: the worker''s channel serialization (json or advanced)')
            [CompletionResult]::new('--job-timeout', '--job-timeout', [CompletionResultType]::ParameterName, 'Kill an --exec job that runs longer than DURATION')
            [CompletionResult]::new('--kill-signal', '--kill-signal', [CompletionResultType]::ParameterName, 'Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace period before SIGKILL follows the kill signal (0 = never escalate)')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Serve --exec jobs sent as JSON requests')
            [CompletionResult]::new('--announce-starts', '--announce-starts', [CompletionResultType]::ParameterName, 'With --exec: say when each job has started (its pid), so a job killed before it answers is still reported with its pid. Not under srun: its I/O forwarding delays a second small line per job by ~10 ms (measured: 12 ms per job instead of 1)')
            [CompletionResult]::new('--stream-output', '--stream-output', [CompletionResultType]::ParameterName, 'With --exec: send each job''s output as it arrives (output notes), not in its reply (--line-buffer, --ungroup and --results on the primary)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;ipc-echo' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'childproc;help' {
            [CompletionResult]::new('spawn', 'spawn', [CompletionResultType]::ParameterValue, 'Run PROGRAM and stream its stdio live (no shell)')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run COMMAND_LINE through /bin/sh -c, buffer its output (--max-buffer)')
            [CompletionResult]::new('execfile', 'execfile', [CompletionResultType]::ParameterValue, 'Run PROGRAM directly (no shell, every argument literal), buffer its output')
            [CompletionResult]::new('fork', 'fork', [CompletionResultType]::ParameterValue, 'Start a child with a Node.js IPC channel; JSON messages in (--send, stdin), out (stdout)')
            [CompletionResult]::new('cluster', 'cluster', [CompletionResultType]::ParameterValue, 'Run jobs in parallel over a pool of worker processes (built-in tasks, IPC workers, or one process per job)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a supervised pool of server workers sharing listening sockets (Node''s cluster server mode, for any language)')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Regenerate the committed shell completions and man pages')
            [CompletionResult]::new('cluster-worker', 'cluster-worker', [CompletionResultType]::ParameterValue, 'Worker role of `cluster --task`: runs built-in tasks sent over the IPC channel')
            [CompletionResult]::new('cluster-remote', 'cluster-remote', [CompletionResultType]::ParameterValue, 'Remote side of `cluster --hosts/--slurm`: runs a worker or --exec jobs for a primary that speaks to it over stdin/stdout')
            [CompletionResult]::new('ipc-echo', 'ipc-echo', [CompletionResultType]::ParameterValue, 'Child role: echo every IPC message back (what `fork` runs without PROGRAM)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'childproc;help;spawn' {
            break
        }
        'childproc;help;exec' {
            break
        }
        'childproc;help;execfile' {
            break
        }
        'childproc;help;fork' {
            break
        }
        'childproc;help;cluster' {
            break
        }
        'childproc;help;serve' {
            break
        }
        'childproc;help;generate' {
            break
        }
        'childproc;help;cluster-worker' {
            break
        }
        'childproc;help;cluster-remote' {
            break
        }
        'childproc;help;ipc-echo' {
            break
        }
        'childproc;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
