#!/usr/bin/env bash
# slurm-down.sh DIR — stop the cluster slurm-up.sh DIR started (slurmd, slurmctld, munged).
#
# Reads the daemons' pid files under DIR; idempotent, succeeds when nothing runs. DIR is kept
# (logs stay readable); delete it yourself.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
dir=$(cd "$1" && pwd)

# Stop one daemon: SIGTERM, wait up to 5 s, then SIGKILL. Only if the pid is still the
# daemon we started (pids get reused). slurmd first: its job steps die with it.
stop() {
  local name=$1 pidfile=$dir/$1.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null) || return 0
  if [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$name" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# Job steps (slurmstepd) of this cluster outlive slurmd; find them by their spool dir? They
# hold no pid file, so kill them via the steps' cgroup-less process tree: every slurmstepd
# whose parent chain ends at init and whose environment names our SLURM_CONF.
for pid in $(pgrep -x slurmstepd || true); do
  if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$dir/slurm.conf"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
done

stop slurmd
stop slurmctld
stop munged
exit 0
