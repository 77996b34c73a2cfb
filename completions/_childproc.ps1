
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
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Regenerate the committed shell completions and man pages')
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
            [CompletionResult]::new('--env-clear', '--env-clear', [CompletionResultType]::ParameterName, 'Start the child from an empty environment, then apply --env')
            [CompletionResult]::new('--preserve-status', '--preserve-status', [CompletionResultType]::ParameterName, 'On timeout, exit with the child''s status instead of 124')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON-lines event stream (spawn, stdout, stderr, exit) on stdout')
            [CompletionResult]::new('--merge', '--merge', [CompletionResultType]::ParameterName, 'Send the child''s stderr to the same place as its stdout (2>&1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
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
        'childproc;generate' {
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
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Regenerate the committed shell completions and man pages')
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
        'childproc;help;generate' {
            break
        }
        'childproc;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
