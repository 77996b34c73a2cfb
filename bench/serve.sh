#!/usr/bin/env bash
# serve benchmark: a hello-world Node HTTP server on 2 workers under wrk, through
# `childproc serve` (--sched rr and none), Node's own cluster primary (rr and none) and
# `pm2 start -i 2`, in one run; then requests lost during a rolling reload under load.
#   bash bench/serve.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
export DEBIAN_FRONTEND=noninteractive
command -v wrk >/dev/null || { apt-get update -qq; apt-get install -y -qq wrk </dev/null >/dev/null; }
command -v node >/dev/null || { apt-get update -qq; apt-get install -y -qq nodejs </dev/null >/dev/null; }
source bench/lib.sh
build_release --bin childproc
BIN=$(rel childproc)
tmp=$(mktemp -d)
PM2="$tmp/pm2/node_modules/.bin/pm2"
export PM2_HOME="$tmp/pm2-home"
cleanup() { [ -x "$PM2" ] && "$PM2" kill >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp/pm2" pm2@7.0.4 >/dev/null
APP=$PWD/bench/node/hello-cluster.js
PORT=18431

up() { # wait until the port answers
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return 0; sleep 0.05; done
  echo "server on $PORT never came up" >&2; return 1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
load() { local secs=$1; shift; wrk -t2 -c64 -d"${secs}s" --latency "$@" "http://127.0.0.1:$PORT/" > "$tmp/wrk"; }
rps() { awk '/^Requests\/sec/ { print int($2) }' "$tmp/wrk"; }
p99() { awk '$1 == "99%" { print $2 }' "$tmp/wrk"; }
errors() { # non-2xx plus socket errors, as wrk reports them
  awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$tmp/wrk"
}

# One contender: start it (its primary's pid in $pid), load it, print a row.
row() {
  local name=$1
  up
  local t0; t0=$(cpu_ticks "$pid")
  load "$SECS"
  local t1; t1=$(cpu_ticks "$pid")
  local r; r=$(rps)
  local cpu_ms; cpu_ms=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v r="$r" -v s="$SECS" \
    'BEGIN { printf "%.1f", t / hz * 1000 / (r * s / 10000) }')
  printf '  %-34s %9s req/s   p99 %8s   primary CPU %6s ms/10k req   errors %s\n' \
    "$name" "$r" "$(p99)" "$cpu_ms" "$(errors)"
  echo "$r" > "$tmp/rps.$2"
}
stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

echo "== hello world, 2 workers, wrk -t2 -c64 -d${SECS}s on this 2-core machine =="
for sched in rr none; do
  PORT=$PORT "$BIN" serve -w 2 --sched "$sched" --no-prefix -- "$APP" >/dev/null 2>&1 & pid=$!
  row "childproc serve --sched $sched" "cp_$sched"; stop
  PORT=$PORT NODE_CLUSTER_SCHED_POLICY=$sched node "$APP" >/dev/null 2>&1 & pid=$!
  row "node cluster primary ($sched)" "node_$sched"; stop
done
PORT=$PORT "$PM2" start "$APP" -i 2 --name hello >/dev/null 2>&1
pid=$(cat "$PM2_HOME/pm2.pid")
row "pm2 start -i 2 (its daemon)" pm2
"$PM2" delete hello >/dev/null 2>&1 || true
ratio() { awk -v a="$(cat "$tmp/rps.$1")" -v b="$(cat "$tmp/rps.$2")" 'BEGIN { printf "%.2f", a / b }'; }
echo "  childproc rr / node rr: $(ratio cp_rr node_rr)x   childproc none / node none: $(ratio cp_none node_none)x   (goal >= 1.0)"

echo
reload_run() { # NAME HOW-TO-RELOAD WRK-ARGS...: failed requests during one reload under load
  local name=$1 how=$2; shift 2
  up
  load "$SECS" "$@" & local w=$!
  sleep 2; eval "$how"
  wait "$w"
  printf '  %-28s %6s failed of %s\n' "$name" "$(errors)" "$(awk '/requests in/ { print $1 }' "$tmp/wrk")"
}
for mode in close keep-alive; do
  args=(); [ "$mode" = close ] && args=(-H "Connection: close")
  echo
  echo "== requests lost during a rolling reload under load (wrk -c64 ${SECS}s, $mode connections, reload after 2s) =="
  PORT=$PORT "$BIN" serve -w 2 --no-prefix -- "$APP" >/dev/null 2>"$tmp/serve.err" & pid=$!
  reload_run "childproc serve, SIGHUP" 'kill -HUP $pid' "${args[@]}"
  grep -q "reload done" "$tmp/serve.err" || echo "  (the reload did not finish within the run)"
  stop
  PORT=$PORT "$PM2" start "$APP" -i 2 --name hello >/dev/null 2>&1
  reload_run "pm2 reload" '"$PM2" reload hello >/dev/null 2>&1 || true' "${args[@]}"
  "$PM2" delete hello >/dev/null 2>&1 || true
done
echo "  (keep-alive: Node's server.close() in a stopping worker closes its idle keep-alive"
echo "   connections at once, and a request the client sends on one at that instant fails at the"
echo "   client; only the worker could avoid it. One request per connection measures what the"
echo "   primary controls: the listening socket is never without a worker to take it)"
