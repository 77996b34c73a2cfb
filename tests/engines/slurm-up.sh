#!/usr/bin/env bash
# slurm-up.sh DIR — start a private single-node Slurm cluster on localhost.
#
# Everything (config, munge key and socket, state, spool, logs, pid files) lives under DIR,
# nothing is installed or exported globally. Needs root and the Debian packages slurm-wlm
# and munge (Slurm 22.05). Clients find the cluster through SLURM_CONF, printed as the last
# line of stdout, e.g.:
#
#   eval "$(tests/engines/slurm-up.sh /tmp/slurm | tail -n1)"; export SLURM_CONF
#   srun -N1 -n1 hostname
#   tests/engines/slurm-down.sh /tmp/slurm
#
# Waits (up to ~60 s) until the node is idle and a test `srun` works. On failure it prints the
# log tails to stderr, stops what it started and exits non-zero.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)   # absolute: the daemons chdir elsewhere
chmod 755 "$dir"        # munged wants its socket dir not group/world-writable

# A previous cluster in the same DIR (killed test run, ...) is stopped and its state dropped.
"$here/slurm-down.sh" "$dir"
rm -rf "$dir/state" "$dir/spool" "$dir"/*.log "$dir"/*.pid "$dir/munge.socket"*
mkdir -p "$dir/state" "$dir/spool"

fail() {
  echo "slurm-up: $*" >&2
  for f in "$dir"/munged.log "$dir"/slurmctld.log "$dir"/slurmd.log; do
    [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 30 "$f" >&2; }
  done
  "$here/slurm-down.sh" "$dir" >&2 || true
  exit 1
}

# A free TCP port in 20000-59999 (not listened on; the ones already picked are skipped).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    case " $* " in *" $p "*) continue ;; esac
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}
ctld_port=$(free_port)
slurmd_port=$(free_port "$ctld_port")

# Node name: the short hostname, which slurmd also uses to find its own entry. It need not
# resolve: NodeAddr / SlurmctldHost pin every connection to 127.0.0.1. The CPU layout is what
# slurmd detects (e.g. "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1").
node=$(hostname -s)
cpus=$(slurmd -C | head -n1 | grep -o 'CPUs=.*ThreadsPerCore=[0-9]*') || cpus="CPUs=$(nproc)"

# 1. munge: Slurm's authentication. A private key and socket, so we never touch /etc/munge.
dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge.key"
# --force: start even if DIR or its parents have lax permissions (munged is picky).
munged --force --origin=127.0.0.1 --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed" \
  </dev/null || fail "munged did not start"

# 2. slurm.conf. AuthInfo points both daemons and clients (srun, sinfo...) at our munged.
cat >"$dir/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# No cgroups, no containers: plain process tracking, so it works in VMs/containers.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
# Allocate single cores, so 1-CPU jobs/steps run side by side.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# A node that was down (e.g. slurmd restarted) comes back by itself.
ReturnToService=2
# Quick kills on scancel / cancelled srun.
KillWait=5
# Cancel a job whose srun/salloc died without cancelling it (e.g. SIGKILLed with its helper).
InactiveLimit=10
NodeName=$node NodeHostname=$node NodeAddr=127.0.0.1 $cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
# For this script's daemons and checks only. slurmstepd inherits it from slurmd, which is how
# slurm-down.sh tells our job steps from those of another cluster.
export SLURM_CONF="$dir/slurm.conf"

# 3. Daemons. Without -D they fork into the background and write their pid files;
#    -c starts with clean state (no jobs from a former run).
slurmctld -c </dev/null >>"$dir/slurmctld.log" 2>&1 || fail "slurmctld did not start"
slurmd -c -N "$node" </dev/null >>"$dir/slurmd.log" 2>&1 || fail "slurmd did not start"

# 4. Wait (up to 60 s) until the node is idle and a job step runs end to end.
deadline=$((SECONDS + 60))
until [ "$(sinfo -h -n "$node" -o %t 2>/dev/null)" = idle ] &&
      timeout 20 srun -N1 -n1 true </dev/null >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] ||
    fail "node not idle or srun failing after 60 s; sinfo: $(sinfo -h -o '%t %E' 2>&1)"
  sleep 0.5
done

echo "SLURM_CONF=$dir/slurm.conf"
