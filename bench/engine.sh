#!/usr/bin/env bash
# Process-engine benchmark: childproc spawn/exec/execfile against the raw programs, a plain Rust
# Command::output() and Node's child_process, in one run.   bash bench/engine.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v node >/dev/null || need+=(nodejs)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq; apt-get install -y -qq "${need[@]}" </dev/null >/dev/null; fi
source bench/lib.sh
build_release --bin childproc --example output_baseline
BIN=$(rel childproc)
BASE=$(rel examples/output_baseline)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
now() { date +%s%N; }
best_ns() { local best=0 s e d; for _ in 1 2 3; do s=$(now); "$@" >/dev/null 2>&1 || true; e=$(now); d=$((e - s)); if [ $best -eq 0 ] || [ $d -lt $best ]; then best=$d; fi; done; echo $best; }
mean_ms() { sed -nE 's/.*"mean": ([0-9.e-]+).*/\1/p' "$1" | head -1 | awk '{ printf "%.3f", $1 * 1000 }'; }

echo "== per-run overhead: childproc execfile true vs true (hyperfine, mean of many runs) =="
hyperfine -N --warmup 50 --runs 500 --export-json "$tmp/o.json" 'true' "$BIN execfile true" "$BIN spawn true" >/dev/null 2>&1
t_true=$(jq -r '.results[0].mean * 1000' "$tmp/o.json" 2>/dev/null || true)
if [ -z "$t_true" ]; then
  t_true=$(python3 -c "import json;print(json.load(open('$tmp/o.json'))['results'][0]['mean']*1000)")
  t_ef=$(python3 -c "import json;print(json.load(open('$tmp/o.json'))['results'][1]['mean']*1000)")
  t_sp=$(python3 -c "import json;print(json.load(open('$tmp/o.json'))['results'][2]['mean']*1000)")
else
  t_ef=$(jq -r '.results[1].mean * 1000' "$tmp/o.json"); t_sp=$(jq -r '.results[2].mean * 1000' "$tmp/o.json")
fi
printf '  true %.3f ms, childproc execfile true %.3f ms (+%.3f ms), childproc spawn true %.3f ms (+%.3f ms); target: under 1 ms added\n' \
  "$t_true" "$t_ef" "$(awk -v a="$t_ef" -v b="$t_true" 'BEGIN{print a-b}')" "$t_sp" "$(awk -v a="$t_sp" -v b="$t_true" 'BEGIN{print a-b}')"
node_ms=$(node -e "const t=process.hrtime.bigint();require('child_process').execFileSync('true');console.log(Number(process.hrtime.bigint()-t)/1e6)")
echo "  for context: Node's execFileSync('true') inside an already running node: ${node_ms} ms"

echo
echo "== spawn streaming 2 GiB (dd if=/dev/zero bs=64K count=32768), best of 3 =="
DD="dd if=/dev/zero bs=64K count=32768 status=none"
raw=$(best_ns sh -c "$DD | cat > /dev/null")
# GNU cat moves pipe data with splice(2), in the kernel; any filter that looks at the bytes pays
# a read and a write. A plain read/write copier in the same position is the honest floor.
usr=$(best_ns sh -c "$DD | dd bs=64K status=none | cat > /dev/null")
inh=$(best_ns sh -c "$BIN spawn $DD | cat > /dev/null")
pre=$(best_ns sh -c "$BIN spawn --prefix 'x ' $DD | cat > /dev/null")
jsn=$(best_ns sh -c "$BIN spawn --json $DD | cat > /dev/null")
gbps() { awk -v ns="$1" 'BEGIN { printf "%.2f GB/s", 2147483648 / ns }'; }
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "  dd | cat (raw pipe)           $(gbps "$raw")"
echo "  dd | dd bs=64K | cat (a user-space copy in between, the floor for a filter) $(gbps "$usr") = $(r "$raw" "$usr")x of raw"
echo "  childproc spawn (inherit)     $(gbps "$inh")   $(r "$raw" "$inh")x of raw (target: equal)"
echo "  childproc spawn --prefix      $(gbps "$pre")   $(r "$raw" "$pre")x of raw (target >= 0.8x)"
echo "  childproc spawn --json        $(gbps "$jsn")   $(r "$raw" "$jsn")x of raw (target >= 0.8x)"
echo "  (zeros carry no newline: --prefix/--json emit 64 KiB pieces, --json escapes every NUL as \\u0000)"
LINES="yes 'some line of text 12345' | head -c 2147483648"
raw=$(best_ns sh -c "$LINES | cat > /dev/null")
pre=$(best_ns sh -c "$BIN spawn --prefix 'x ' sh -c \"$LINES\" | cat > /dev/null")
jsn=$(best_ns sh -c "$BIN spawn --json sh -c \"$LINES\" | cat > /dev/null")
echo "  same with 2 GiB of 25-byte lines: raw $(gbps "$raw"), --prefix $(gbps "$pre") ($(r "$raw" "$pre")x), --json $(gbps "$jsn") ($(r "$raw" "$jsn")x)"

echo
echo "== exec of a command printing 50 MB, --max-buffer 64MiB (best of 3, peak RSS) =="
CMD="head -c 50000000 /dev/zero"
base=$(best_ns "$BASE" "$CMD")
cpx=$(best_ns "$BIN" exec --max-buffer 64MiB "$CMD")
/usr/bin/time -f %M -o "$tmp/rss" "$BIN" exec --max-buffer 64MiB "$CMD" > /dev/null
rss=$(tail -1 "$tmp/rss")
/usr/bin/time -f %M -o "$tmp/rssb" "$BASE" "$CMD" > /dev/null
rssb=$(tail -1 "$tmp/rssb")
/usr/bin/time -f %M -o "$tmp/rssn" node bench/node/exec.js 67108864 "$CMD" > /dev/null 2> "$tmp/node.json"
rssn=$(tail -1 "$tmp/rssn")
nodecb=$(sed -nE 's/.*"callbackMs":([0-9.]+).*/\1/p' "$tmp/node.json")
echo "  Rust Command::output()   $(ms "$base") ms, peak RSS $((rssb / 1024)) MiB"
echo "  childproc exec           $(ms "$cpx") ms, peak RSS $((rss / 1024)) MiB   $(r "$cpx" "$base")x of output() (target <= 1.2x, RSS < 60 MiB)"
echo "  Node exec                callback after ${nodecb%.*} ms, peak RSS $((rssn / 1024)) MiB"

echo
echo "== exec --max-buffer 1MiB yes (hyperfine; exit 125 expected) =="
hyperfine -N -i --warmup 10 --runs 100 --export-json "$tmp/y.json" "$BIN exec --max-buffer 1MiB yes" >/dev/null 2>&1
ymean=$(python3 -c "import json;print('%.2f' % (json.load(open('$tmp/y.json'))['results'][0]['mean']*1000))")
node bench/node/exec.js 1048576 yes 2> "$tmp/ny.json" > /dev/null || true
nyes=$(sed -nE 's/.*"callbackMs":([0-9.]+).*/\1/p' "$tmp/ny.json")
echo "  childproc: ${ymean} ms whole process (target < 10 ms); Node exec callback after ${nyes%.*} ms"
