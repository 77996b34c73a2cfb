#!/usr/bin/env bash
# shellcheck disable=SC2086  # pid lists are split into words on purpose
# sshd-down.sh DIR [NAME] — stop the sshd servers started by sshd-up.sh DIR (all, or only host
# NAME, e.g. host2). Kills each listener AND all of its session processes, so established
# connections are cut too (clients see exit 255) — this is how tests make a host "die" mid-run.
# Idempotent: a host already stopped (or never started) is fine; always exits 0.
set -euo pipefail

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 DIR [NAME]" >&2; exit 2; }
dir=$(cd "$1" 2>/dev/null && pwd) || exit 0      # no DIR: nothing runs
name=${2:-host*}

# tree ROOT...: the roots plus all their descendants, found by walking ppid links over /proc
# (sshd's session processes call setsid(), so process groups/sessions would miss them).
tree() {
  for f in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null < "$f" || continue     # process vanished
    set -- ${line##*) }                              # fields after "(comm)": state ppid ...
    echo "${f//[^0-9]/} $2"
  done | awk -v roots="$*" '
    { ppid[$1] = $2 }
    END {
      n = split(roots, r, " "); for (i = 1; i <= n; i++) if (r[i] in ppid) keep[r[i]] = 1
      do { added = 0; for (p in ppid) if (!(p in keep) && (ppid[p] in keep)) { keep[p] = 1; added++ } } while (added)
      for (p in keep) print p
    }'
}

alive() {  # alive PID...: true while any of them runs (zombies count as gone)
  local p s
  for p; do
    s=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
    [[ $s == " Z"* ]] || return 0
  done
  return 1
}

for pidfile in "$dir"/$name.pid; do
  [ -e "$pidfile" ] || continue
  host=$(basename "$pidfile" .pid)
  roots=""
  # The listener, if that pid still is *our* sshd (pids get reused).
  pid=$(<"$pidfile")
  if [[ $pid =~ ^[0-9]+$ ]] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/sshd ] &&
     tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/$host.sshd_config"; then
    roots=$pid
  fi
  # Plus session processes no longer under it: a remote command whose client was killed is
  # orphaned (reparented to init) but still carries SSH_CONNECTION="... 127.0.0.1 PORT".
  port=$(awk '$1 == "Port" { print $2 }' "$dir/$host.sshd_config" 2>/dev/null || true)
  if [ -n "$port" ]; then
    for f in $(grep -lszxE "SSH_CONNECTION=[^ ]+ [0-9]+ 127\.0\.0\.1 $port" /proc/[0-9]*/environ || true); do
      roots+=" $(basename "$(dirname "$f")")"
    done
  fi
  # Freeze the whole tree first (SIGSTOP) so nothing forks while we look, repeat until no new
  # process shows up, then SIGKILL everything at once and wait (up to 2 s) until it is gone.
  procs=""
  while [ -n "${roots// /}" ]; do
    now=$(tree $roots | sort -n | tr '\n' ' ')
    [ "$now" = "$procs" ] && break
    procs=$now
    kill -STOP $procs 2>/dev/null || true
  done
  if [ -n "$procs" ]; then
    kill -KILL $procs 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do alive $procs || break; sleep 0.02; done
  fi
  rm -f "$pidfile"
done
exit 0
