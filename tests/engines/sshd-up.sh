#!/usr/bin/env bash
# sshd-up.sh DIR N — start N private OpenSSH servers on 127.0.0.1 ("host1".."hostN") for tests.
#
# Everything lives under DIR (created if missing); nothing touches /etc/ssh or ~/.ssh:
#   ssh_host_ed25519_key  throwaway host key (shared by all hosts, kept across runs)
#   id_ed25519            client key, authorized via DIR/authorized_keys
#   hostK.sshd_config     per-host server config;  hostK.log  its log (-E);  hostK.pid  listener pid
#   ssh_config            client config: Host host1..hostN, plus "down" (a port nobody listens on)
# Use it as:  ssh -F DIR/ssh_config host1 'echo hi'
# Prints "hostK PORT" per host once `ssh hostK true` works, exits 0. On failure: log tails on
# stderr, everything stopped again, exit 1. Re-runnable: stops whatever DIR had running first.
# Stop with sshd-down.sh DIR [hostK].
set -euo pipefail

[ $# -eq 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 DIR N" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)            # absolute: sshd re-execs itself and needs absolute paths
n=$2
sshd=/usr/sbin/sshd               # absolute path required by sshd (re-exec per connection)
user=$(id -un)
# Opt-in SSHD_UP_NO_BASHRC=1: Debian's bash sources ~/.bashrc for every ssh command while
# SHLVL<2 (costly with e.g. pyenv init); SetEnv SHLVL=1 makes remote bash skip it (remote PATH
# is then sshd's default one).
extra_cfg=""
if [ "${SSHD_UP_NO_BASHRC:-}" = 1 ]; then extra_cfg="SetEnv SHLVL=1"; fi

"$here/sshd-down.sh" "$dir"       # re-run: stop what a previous run left behind
mkdir -p /run/sshd 2>/dev/null || true   # privilege separation dir (missing without systemd)

fail() {                          # fail MSG: show log tails, stop everything, exit 1
  echo "sshd-up: $1" >&2
  for log in "$dir"/host*.log; do
    [ -e "$log" ] && { echo "--- tail $log" >&2; tail -n 20 "$log" >&2; }
  done
  "$here/sshd-down.sh" "$dir" || true
  exit 1
}

# Keys: generated once, reused by later runs (so known_hosts stays valid).
[ -e "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -N '' -t ed25519 -f "$dir/ssh_host_ed25519_key" </dev/null
[ -e "$dir/id_ed25519" ] || ssh-keygen -q -N '' -t ed25519 -f "$dir/id_ed25519" </dev/null
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
rm -f "$dir/known_hosts" "$dir"/host*.log "$dir"/host*.sshd_config

# start_host K PORT: write hostK's config and start its sshd in the background (-D, no daemon),
# with every fd redirected so callers capturing our stdout/stderr don't wait on sshd forever.
start_host() {
  cat > "$dir/host$1.sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $2
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/host$1.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
PrintMotd no
PrintLastLog no
# many concurrent sessions / connections (ControlMaster multiplexing, parallel benchmarks)
MaxSessions 200
MaxStartups 200
Subsystem sftp internal-sftp
LogLevel INFO
$extra_cfg
CFG
  "$sshd" -D -f "$dir/host$1.sshd_config" -E "$dir/host$1.log" </dev/null >/dev/null 2>&1 &
  echo $! > "$dir/host$1.pid"
}

# Start every host: pick a random port below the ephemeral range (32768+), skip ones where
# something answers, and retry another port if sshd still loses the bind race.
declare -a port
for ((k = 1; k <= n; k++)); do
  for ((try = 1; ; try++)); do
    [ "$try" -le 20 ] || fail "host$k: no free port found"
    p=$((10000 + RANDOM % 22000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue   # someone listens there
    : > "$dir/host$k.log"
    start_host "$k" "$p"
    pid=$(<"$dir/host$k.pid")
    # wait for "Server listening on 127.0.0.1 port P." or for sshd to exit (bind failure)
    for ((i = 0; i < 100; i++)); do
      grep -q "Server listening" "$dir/host$k.log" && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    if grep -q "Server listening" "$dir/host$k.log"; then port[k]=$p; break; fi
    kill -0 "$pid" 2>/dev/null && fail "host$k: sshd did not start listening"
    grep -q "Address already in use" "$dir/host$k.log" || fail "host$k: sshd exited"
  done
done

# Port 1 (tcpmux) on 127.0.0.1: nothing listens there, so "down" gets connection refused.
{
  for ((k = 1; k <= n; k++)); do printf 'Host host%s\n  Port %s\n' "$k" "${port[k]}"; done
  cat <<CFG
Host down
  Port 1
Host *
  HostName 127.0.0.1
  User $user
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking no
  BatchMode yes
  LogLevel ERROR
  ConnectTimeout 10
CFG
} > "$dir/ssh_config"

# Ready = a real login works (up to ~30 s per host).
for ((k = 1; k <= n; k++)); do
  deadline=$((SECONDS + 30))
  until ssh -F "$dir/ssh_config" "host$k" true </dev/null 2>>"$dir/host$k.log"; do
    [ $SECONDS -lt $deadline ] || fail "host$k: ssh host$k true kept failing"
    sleep 0.2
  done
  echo "host$k ${port[k]}"
done
