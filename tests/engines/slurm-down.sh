#!/usr/bin/env bash
# slurm-down.sh DIR — stop the cluster that `slurm-up.sh DIR` started: its running jobs,
# slurmd, slurmctld and munged. Finds them through the pid files under DIR and touches no
# other Slurm on the machine. Idempotent: succeeds when nothing (or DIR itself) is left.
# DIR is kept, so the logs stay readable; delete it yourself.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
dir=$(cd "$1" && pwd)
export SLURM_CONF=$dir/slurm.conf

# Is $1 a live process (not a zombie: where pid 1 does not reap, kill -0 succeeds on those)?
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }

# Our job steps: every slurmstepd whose environment holds our SLURM_CONF (slurmstepd does not
# die with slurmd, and with proctrack/linuxproc its tasks do not die with slurmstepd).
steps() {
  local p
  for p in $(pgrep -x slurmstepd || true); do
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF" && echo "$p"
  done
  return 0
}
# $1 and all its descendants.
tree() { local c; echo "$1"; for c in $(pgrep -P "$1" || true); do tree "$c"; done; }

# 1. Cancel all jobs, so slurmstepd kills its tasks; then kill what is left by hand.
if [ -f "$dir/slurmctld.pid" ] && alive "$(cat "$dir/slurmctld.pid")"; then
  timeout 10 scancel --partition=debug 2>/dev/null || true
  for _ in $(seq 50); do [ -z "$(steps)" ] && break; sleep 0.1; done
fi
for p in $(steps); do kill -KILL $(tree "$p") 2>/dev/null || true; done

# 2. Stop the daemons: SIGTERM, up to 5 s grace, then SIGKILL. The pid must still belong to
#    the daemon named in the pid file (pids get reused).
stop() {
  local name=$1 pid
  pid=$(cat "$dir/$name.pid" 2>/dev/null) || return 0
  if alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    ! alive "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/$name.pid"
}
stop slurmd
stop slurmctld
stop munged
exit 0
