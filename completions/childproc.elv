
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
            cand generate 'Regenerate the committed shell completions and man pages'
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
            cand --env-clear 'Start the child from an empty environment, then apply --env'
            cand --preserve-status 'On timeout, exit with the child''s status instead of 124'
            cand --json 'Print a JSON-lines event stream (spawn, stdout, stderr, exit) on stdout'
            cand --merge 'Send the child''s stderr to the same place as its stdout (2>&1)'
            cand -h 'Print help'
            cand --help 'Print help'
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
        &'childproc;generate'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'childproc;help'= {
            cand spawn 'Run PROGRAM and stream its stdio live (no shell)'
            cand exec 'Run COMMAND_LINE through /bin/sh -c, buffer its output (--max-buffer)'
            cand execfile 'Run PROGRAM directly (no shell, every argument literal), buffer its output'
            cand generate 'Regenerate the committed shell completions and man pages'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'childproc;help;spawn'= {
        }
        &'childproc;help;exec'= {
        }
        &'childproc;help;execfile'= {
        }
        &'childproc;help;generate'= {
        }
        &'childproc;help;help'= {
        }
    ]
    $completions[$command]
}
