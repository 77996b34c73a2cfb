#!/usr/bin/env bash
# IPC benchmark: childproc's channel and echo child vs Node <-> Node, in one run.
#   bash bench/ipc.sh [ROUND_TRIPS] [BURST]
set -euo pipefail
cd "$(dirname "$0")/.."
TRIPS=${1:-50000}
BURST=${2:-200000}
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs </dev/null; }
source bench/lib.sh
build_release --bin childproc --example ipc_bench --example handle_bench
BIN=$(rel childproc)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "== IPC: $TRIPS sequential round trips, then a burst of $BURST messages echoed back =="
rust=$("$(rel examples/ipc_bench)" "$BIN" "$TRIPS" "$BURST")
node=$(node bench/node/ipc-parent.js bench/node/echo.js "$TRIPS" "$BURST")
nodecp=$(node bench/node/ipc-parent.js "$BIN" "$TRIPS" "$BURST" --exec-path)
printf '%-44s %14s %16s\n' "pair" "round trips/s" "burst msgs/s"
printf '%-44s %14s %16s\n' "childproc lib <-> childproc echo child" "$(field roundTripsPerSec "$rust")" "$(field burstMsgsPerSec "$rust")"
printf '%-44s %14s %16s\n' "Node parent <-> Node child" "$(field roundTripsPerSec "$node")" "$(field burstMsgsPerSec "$node")"
printf '%-44s %14s %16s\n' "Node parent <-> childproc echo child" "$(field roundTripsPerSec "$nodecp")" "$(field burstMsgsPerSec "$nodecp")"
rt=$(field roundTripsPerSec "$rust"); nrt=$(field roundTripsPerSec "$node")
bu=$(field burstMsgsPerSec "$rust"); nbu=$(field burstMsgsPerSec "$node")
echo "round trips: childproc $rt/s = $(ratio "$rt" "$nrt")x Node (target >= 50000/s and >= 3x)"
echo "burst:       childproc $bu/s = $(ratio "$bu" "$nbu")x Node (target >= 400000/s and >= 3x)"

echo
echo "== advanced serialization (V8 frames): $TRIPS round trips, a burst of $BURST =="
arust=$("$(rel examples/ipc_bench)" "$BIN" "$TRIPS" "$BURST" advanced)
anode=$(node bench/node/ipc-parent.js bench/node/echo.js "$TRIPS" "$BURST" - advanced)
anodecp=$(node bench/node/ipc-parent.js "$BIN" "$TRIPS" "$BURST" --exec-path advanced)
printf '%-44s %14s %16s\n' "pair" "round trips/s" "burst msgs/s"
printf '%-44s %14s %16s\n' "childproc lib <-> childproc echo child" "$(field roundTripsPerSec "$arust")" "$(field burstMsgsPerSec "$arust")"
printf '%-44s %14s %16s\n' "Node parent <-> Node child" "$(field roundTripsPerSec "$anode")" "$(field burstMsgsPerSec "$anode")"
printf '%-44s %14s %16s\n' "Node parent <-> childproc echo child" "$(field roundTripsPerSec "$anodecp")" "$(field burstMsgsPerSec "$anodecp")"
art=$(field roundTripsPerSec "$arust"); anrt=$(field roundTripsPerSec "$anode")
abu=$(field burstMsgsPerSec "$arust"); anbu=$(field burstMsgsPerSec "$anode")
echo "round trips: childproc $art/s = $(ratio "$art" "$anrt")x Node advanced (target >= 3x)"
echo "burst:       childproc $abu/s = $(ratio "$abu" "$anbu")x Node advanced (target >= 3x)"

echo
echo "== handle passing: the same connected socket handed to a Node child 10000 times as a net.Socket, each ACKed =="
hcp=$("$(rel examples/handle_bench)" bench/node/handle-child.js 10000)
hnode=$(node bench/node/handle-parent.js 10000)
echo "childproc's channel -> Node child: $(field handoffsPerSec "$hcp") hand-offs/s"
echo "Node parent -> Node child:         $(field handoffsPerSec "$hnode") hand-offs/s"
echo "ratio: $(ratio "$(field handoffsPerSec "$hcp")" "$(field handoffsPerSec "$hnode")")x"

echo
echo "== fork CLI: $BURST messages through 'childproc fork -- node echo.js' vs a Node parent forking echo.js =="
seq 1 "$BURST" | sed 's/.*/{"i":&,"p":"abcdefgh"}/' > "$tmp/in.jsonl"
t0=$(date +%s%N)
"$BIN" fork -- node bench/node/echo.js < "$tmp/in.jsonl" > "$tmp/out.jsonl"
t1=$(date +%s%N)
got=$(wc -l < "$tmp/out.jsonl")
[ "$got" -eq "$BURST" ] || { echo "fork lost messages: $got of $BURST"; exit 1; }
cp_rate=$(awk -v n="$BURST" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
echo "childproc fork -- node echo.js (stdin -> node -> stdout): $cp_rate msgs/s end to end"
echo "Node parent forking echo.js (burst above):                $nbu msgs/s"
echo "ratio: $(ratio "$cp_rate" "$nbu")x (childproc's parent side must not be the bottleneck: the Node child's own rate bounds both)"
