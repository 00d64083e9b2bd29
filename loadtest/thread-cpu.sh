#!/usr/bin/env bash
# The feed's CPU per click, thread by thread (issue 19 item 3). One Trackstar pinned to core SERVER_CPU
# with one loop, keep-alive clicks from tsload on GEN_CPU for DURATION s (no warm-up, so the CPU
# window and the counted clicks are the same), then CPU counted until the whole process has been idle
# for half a second (the exporter's catch-up included). Alternates the feed off ([export] sink =
# "none") and the default configuration (SQLite) for ROUNDS rounds, and prints each run's CPU per
# click split into the loop (the thread with the most CPU) and every other thread (the exporter, the
# snapshot thread, the admin loop, …), then the medians. The whole-process ratio of `pinned.sh` moves
# with the loop's own cost per click, which varies run to run on a VM far more than the feed costs;
# the split shows the feed's own share apart from it.
# Usage (after `make release`): [TRACKSTAR=<binary>] [ROUNDS=6] loadtest/thread-cpu.sh
set -euo pipefail

ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACKSTAR=${TRACKSTAR:-$ROOT/.build/release/trackstar}
BIN=${LOADTEST_BIN:-$ROOT/loadtest/.build/release}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trackstar-thread-cpu.XXXXXX")
RESULTS=$WORK/results
STARTED=()
declare -A PORT PID
LOG_PREFIX=thread-cpu
. "$ROOT/loadtest/lib.sh"

[ -n "${LOADTEST_BIN:-}" ] || swift build -c release --package-path "$ROOT/loadtest" 2>&1 | tail -1 >&2
TICK_MS=$((1000 / $(getconf CLK_TCK)))

# threads PID: "tid ticks" for each thread of the process.
threads() { for t in /proc/"$1"/task/*; do echo "$(basename "$t") $(awk '{ print $14 + $15 }' "$t/stat")"; done | sort; }

# one SINK: a fresh server, one keep-alive run, CPU until idle; appends "sink clicks loop_ms rest_ms".
one() {
    local sink=$1 name=$1-$ROUND pid port line requests
    local dir=$WORK/$name
    start_trackstar "$name" "$sink"
    pid=${PID[$name]} port=${PORT[$name]}
    threads "$pid" > "$dir/before"
    line=$(taskset -c "$GEN_CPU" "$BIN/tsload" --json --url "http://127.0.0.1:$port" --duration "$DURATION" --warmup 0 \
        --threads 1 --scenario clicks --connections "$CONNECTIONS")
    requests=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' <<< "$line")
    wait_until_idle "$pid"
    threads "$pid" > "$dir/after"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    join -a 2 -e 0 -o 0,1.2,2.2 "$dir/before" "$dir/after" \
        | awk -v sink="$sink" -v clicks="$requests" -v tick="$TICK_MS" '
            { d = ($3 - $2) * tick; total += d; if (d > loop) loop = d }
            END { print sink, clicks, loop, total - loop }' >> "$RESULTS"
    log "round $ROUND $sink: $(tail -1 "$RESULTS")"
}

for ROUND in $(seq "$ROUNDS"); do
    if (( ROUND % 2 )); then one none; one sqlite; else one sqlite; one none; fi
done

python3 - "$RESULTS" <<'EOF'
import sys, statistics
runs = {"none": [], "sqlite": []}
for line in open(sys.argv[1]):
    sink, clicks, loop, rest = line.split()
    clicks, loop, rest = int(clicks), float(loop), float(rest)
    runs[sink].append((loop * 1000 / clicks, rest * 1000 / clicks))
print("µs of CPU a click (keep-alive, one loop, until idle): loop thread + every other thread")
for sink, label in (("none", "feed off"), ("sqlite", "default (SQLite feed)")):
    print(f"  {label:22} loop " + " ".join(f"{l:6.2f}" for l, _ in runs[sink]) + "   others " + " ".join(f"{r:5.2f}" for _, r in runs[sink]))
med = {s: (statistics.median(l for l, _ in v), statistics.median(r for _, r in v)) for s, v in runs.items()}
off, on = med["none"], med["sqlite"]
print(f"medians: feed off loop {off[0]:.2f} + others {off[1]:.2f}; default loop {on[0]:.2f} + others {on[1]:.2f}")
print(f"the feed's own CPU a click (others, default minus feed off): {on[1] - off[1]:.2f} µs")
print(f"default vs feed off, medians of the parts: {(on[0] + on[1]) / (off[0] + off[1]):.2f}x; "
      f"with the loop's cost taken as the feed off's: {(off[0] + on[1]) / (off[0] + off[1]):.2f}x (target <= 1.15)")
EOF
