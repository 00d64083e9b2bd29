#!/usr/bin/env bash
# The click loop's stalls, from a scheduler trace (issue 19 item 3): one Trackstar pinned to SERVER_CPU
# with one loop, open-loop clicks at RATE from GEN_CPU, and `perf record` of scheduler switches and
# wake-ups on every CPU, the loop's io_uring_enter calls and page faults, every fdatasync (ext4) and,
# with SAMPLE=1, CPU samples with call chains. loop-stalls.py then counts the loop's runnable waits
# (who ran instead), its long iterations (on-CPU, and what ran them) and blocked intervals, each
# per second of the run. Holds under other load, where p99 does not: it says who took the core.
# Usage: loadtest/loop-stalls.sh LABEL [EXTRA_TOML]   (root; TRACKSTAR= chooses the binary)
#   e.g. loadtest/loop-stalls.sh feed-off '[export]
#   sink = "none"'
set -euo pipefail
label=$1 extra=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACKSTAR=${TRACKSTAR:-$ROOT/.build/release/trackstar}
BIN=$ROOT/loadtest/.build/release
RATE=${RATE:-78000} DURATION=${DURATION:-8} SERVER_CPU=${SERVER_CPU:-0} GEN_CPU=${GEN_CPU:-1}
W=$(mktemp -d "${TMPDIR:-/tmp}/trackstar-stalls.XXXXXX")
"$BIN/tsload" trackstar-config --listen 127.0.0.1:0 --data-dir "$W/data" --extra "$extra" > "$W/t.toml"
taskset -c "$SERVER_CPU" "$TRACKSTAR" serve --config "$W/t.toml" --loops 1 --admin-listen 127.0.0.1:0 > "$W/out.log" 2>&1 &
pid=$!
trap 'kill $pid; wait $pid 2>/dev/null; [ -n "${KEEP:-}" ] && echo "kept $W" >&2 || rm -rf "$W"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$W/out.log" && break; sleep 0.1; done
port=$(grep -m1 "listening on" "$W/out.log" | sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p')
cpu_of_threads() { for t in /proc/$pid/task/*; do echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat")"; done; }
cpu_of_threads > "$W/before"
taskset -c "$GEN_CPU" "$BIN/tsload" --url "http://127.0.0.1:$port" --duration 3 --warmup 1 --connections 64 --rate "$RATE" --json > /dev/null
cpu_of_threads > "$W/after"
loop=$(join "$W/before" "$W/after" | awk '{ d = $3 - $2; if (d > best) { best = d; tid = $1 } } END { print tid }')
perf record -q -e sched:sched_switch -e sched:sched_wakeup -e sched:sched_waking \
  -e syscalls:sys_enter_io_uring_enter --filter "common_pid == $loop" \
  -e syscalls:sys_exit_io_uring_enter --filter "common_pid == $loop" \
  -e exceptions:page_fault_user --filter "common_pid == $loop" \
  -e ext4:ext4_sync_file_enter -e ext4:ext4_sync_file_exit \
  ${SAMPLE:+-e cpu-clock/freq=4000,call-graph=fp/} -a -o "$W/perf.data" -- sleep $(( DURATION + 2 )) 2>/dev/null &
perfpid=$!
sleep 0.5
line=$(taskset -c "$GEN_CPU" "$BIN/tsload" --url "http://127.0.0.1:$port" --duration "$DURATION" --warmup 1 --connections 64 --rate "$RATE" --json)
wait $perfpid || true
python3 -c "
import json, sys; r = json.loads(sys.argv[1]); l = r['latency']
print('$label: %.0f/s, latency p50 %.0f p99 %.0f max %.0f µs (the generator shares its core with any other load)' % (r['perSecond'], l['p50'], l['p99'], l['max']))" "$line"
echo "loop thread $loop of $pid; load average $(cut -d' ' -f1-3 /proc/loadavg)"
perf script -i "$W/perf.data" -F comm,pid,tid,cpu,time,event,trace,ip,sym 2>/dev/null | CPU=$SERVER_CPU python3 "$ROOT/loadtest/loop-stalls.py" "$loop" "$pid"
