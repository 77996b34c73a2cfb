#!/usr/bin/env bash
# Many-machine benchmark, in one run:
#  - `cluster --hosts` over ssh to 2 loopback hosts (private sshd, connection reuse) vs
#    GNU parallel -S on the same hosts;
#  - `cluster --slurm --exec true` vs a plain loop of `srun -n1 true`, both inside one
#    allocation of a private single-node Slurm.
#   bash bench/remote.sh            (root; installs openssh-server, slurm-wlm, munge, parallel)
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v parallel >/dev/null || need+=(parallel)
command -v srun >/dev/null || need+=(slurm-wlm)
[ -x /usr/sbin/munged ] || need+=(munge)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq; apt-get install -y -qq "${need[@]}" </dev/null >/dev/null; fi
source bench/lib.sh
build_release --bin childproc
BIN=$(rel childproc)
tmp=$(mktemp -d)
cleanup() {
  bash tests/engines/sshd-down.sh "$tmp/ssh" >/dev/null 2>&1 || true
  bash tests/engines/slurm-down.sh "$tmp/slurm" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
now() { date +%s%N; }
rate() { awk -v n="$1" -v ns="$2" 'BEGIN { printf "%.1f", n / (ns / 1e9) }'; }
ms_per() { awk -v n="$1" -v ns="$2" 'BEGIN { printf "%.2f", ns / n / 1e6 }'; }

echo "== --exec true over ssh: 2 loopback hosts x 2 slots =="
# The remote bash would otherwise read ~/.bashrc on every session (same for both tools).
SSHD_UP_NO_BASHRC=1 bash tests/engines/sshd-up.sh "$tmp/ssh" 2 >/dev/null
SSH="ssh -F $tmp/ssh/ssh_config"
N=2000
seq "$N" > "$tmp/in"
s=$(now)
"$BIN" cluster --no-progress --hosts 2/host1,2/host2 --ssh "$SSH" --remote-childproc "$BIN" \
  --exec true < "$tmp/in" >/dev/null 2>&1
e=$(now); cp_ns=$((e - s))
NP=200
seq "$NP" > "$tmp/inp"
export PARALLEL_HOME="$tmp/parallel"
s=$(now)
parallel -S 2/host1,2/host2 --ssh "$SSH" --controlmaster true < "$tmp/inp" >/dev/null 2>&1
e=$(now); gp_ns=$((e - s))
cp_rate=$(rate "$N" "$cp_ns"); gp_rate=$(rate "$NP" "$gp_ns")
printf '  %-44s %9s jobs/s  (%s ms/job, %d jobs)\n' \
  "childproc cluster --hosts (persistent slots)" "$cp_rate" "$(ms_per "$N" "$cp_ns")" "$N" \
  "GNU parallel -S --controlmaster" "$gp_rate" "$(ms_per "$NP" "$gp_ns")" "$NP"
echo "  childproc / GNU parallel: $(awk -v a="$cp_rate" -v b="$gp_rate" 'BEGIN { printf "%.0f", a / b }')x the job rate"
bash tests/engines/sshd-down.sh "$tmp/ssh" >/dev/null 2>&1 || true

echo
echo "== --exec true as Slurm job steps: one allocation of 2 tasks =="
conf=$(bash tests/engines/slurm-up.sh "$tmp/slurm" | tail -n1)
export "${conf?}"
N=500
NS=20
seq "$N" > "$tmp/in"
# Both sides inside the same allocation: childproc's slots are 2 steps that run every job;
# the loop pays one step per job.
out=$(salloc -Q -n2 bash -c '
  now() { date +%s%N; }
  s=$(now); "$1" cluster --no-progress --slurm --exec true < "$2" >/dev/null 2>&1; e=$(now)
  echo "cp $((e - s))"
  s=$(now); for i in $(seq "$3"); do srun -n1 true; done; e=$(now)
  echo "loop $((e - s))"
' _ "$BIN" "$tmp/in" "$NS")
cp_ns=$(awk '$1 == "cp" { print $2 }' <<<"$out")
loop_ns=$(awk '$1 == "loop" { print $2 }' <<<"$out")
printf '  %-44s %9s jobs/s  (%s ms/job, %d jobs)\n' \
  "childproc cluster --slurm (2 steps)" "$(rate "$N" "$cp_ns")" "$(ms_per "$N" "$cp_ns")" "$N" \
  "loop of srun -n1 true" "$(rate "$NS" "$loop_ns")" "$(ms_per "$NS" "$loop_ns")" "$NS"
echo "  per-job overhead ratio (srun loop / childproc): $(awk -v a="$loop_ns" -v na="$NS" -v b="$cp_ns" -v nb="$N" 'BEGIN { printf "%.0f", (a / na) / (b / nb) }')x"
