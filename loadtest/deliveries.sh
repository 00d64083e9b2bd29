#!/usr/bin/env bash
# Partner-postback figures, on loopback, release builds:
#  1. deliveries per second: conversions queue while the partner endpoint is paused; then the partner
#     (tsfloor --ok, a libuv responder answering 200) comes up, the endpoint is resumed through the
#     admin listener, and the queue is timed until empty;
#  2. clicks (tsload, keep-alive, 64 connections, throughput and p99) while such a delivery storm
#     drains, against without one, alternated in one run (ABBA: without/storm, storm/without, …),
#     and how fast the storm drains meanwhile (deliveries counted over the click window: with
#     `[delivery] rate_while_busy` the dispatcher paces itself while the clicks keep its core busy).
# With PIN=1 (the default) the server runs on core SERVER_CPU with one loop (its dispatcher thread
# too), and the generator and the partner on GEN_CPU: server CPU decides throughput, as in
# pinned.sh. PIN=0 runs everything unpinned (the server's default loops), as before issue 19.
# Usage: [ROUNDS=4] [DURATION=5] [PIN=1] loadtest/deliveries.sh [CONVERSION_SECONDS]
#        (run by `make loadtest-deliveries`)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_OF_POSTBACKS=${1:-4}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5}
PIN=${PIN:-1}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
TRACKSTAR=${TRACKSTAR:-$ROOT/.build/release/trackstar}
BIN=${LOADTEST_BIN:-$ROOT/loadtest/.build/release}  # LOADTEST_BIN: tools built elsewhere
WORK=$(mktemp -d /tmp/trackstar-deliveries.XXXXXX)
STARTED=()
LOG_PREFIX=deliveries
. "$ROOT/loadtest/lib.sh"

SERVER_PIN=() GEN_PIN=() LOOPS=()
if [ "$PIN" = 1 ]; then
    command -v taskset >/dev/null || { log "taskset (util-linux) is missing; PIN=0 runs unpinned"; exit 1; }
    SERVER_PIN=(taskset -c "$SERVER_CPU") GEN_PIN=(taskset -c "$GEN_CPU") LOOPS=(--loops 1)
fi

RPORT=$("$BIN/tsload" free-port)
APORT=$("$BIN/tsload" free-port)
"$BIN/tsload" trackstar-config --listen 127.0.0.1:0 --data-dir "$WORK/data" \
    --postback-url "http://127.0.0.1:$RPORT/pb?conv={conversion_id}&cid={aff_click_id}&s1={sub1}&p={payout}&e={event}" \
    --extra "[admin]
listen = \"127.0.0.1:$APORT\"

[export]
sink = \"none\"

[delivery]
pause_after = 1
max_per_endpoint = 16
retry_base = \"1h\"" > "$WORK/trackstar.toml"

"${SERVER_PIN[@]}" "$TRACKSTAR" serve --config "$WORK/trackstar.toml" "${LOOPS[@]}" > "$WORK/out.log" 2> "$WORK/err.log" &
SERVER=$!
STARTED+=("$SERVER")
PORT=$(wait_for "$WORK/out.log" "listening on" | port_of)
ADMIN="http://127.0.0.1:$APORT"
metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# Conversions while the partner is down: the first failure pauses the endpoint, the rest queue.
queue_conversions() {
    "${GEN_PIN[@]}" "$BIN/tsload" --url "http://127.0.0.1:$PORT" --scenario postbacks --pool 200000 --duration "$SECONDS_OF_POSTBACKS" \
        --warmup 0 --connections 32 --json > /dev/null
    local last=-1 now
    while now=$(metric trackstar_partner_queue); [ "$now" != "$last" ]; do last=$now; sleep 0.5; done
    echo "$now"
}

# The partner runs at nice 19 beside the generator: in production it is another machine, so its CPU
# is not the server's.
PARTNER=
start_partner() {
    nice -n 19 "${GEN_PIN[@]}" "$BIN/tsfloor" --ok --listen "127.0.0.1:$RPORT" --threads 1 > /dev/null &
    PARTNER=$!
    STARTED+=("$PARTNER")
    sleep 0.3
}
stop_partner() { kill "$PARTNER"; wait "$PARTNER" 2>/dev/null || true; }

resume() { curl -s -X POST "$ADMIN/deliveries/resume?endpoint=http://127.0.0.1:$RPORT" > /dev/null; }
drained() { while [ "$(metric trackstar_partner_queue)" != "0" ]; do sleep 0.1; done; }

# Clicks for DURATION s (1 s warm-up): prints "requests/s p99µs".
clicks() {
    "${GEN_PIN[@]}" "$BIN/tsload" --json --url "http://127.0.0.1:$PORT" --scenario clicks --connections 64 --threads 1 \
        --duration "$DURATION" --warmup 1 --server-pid "$SERVER" \
        | python3 -c 'import json, sys; r = json.load(sys.stdin); print("%.0f %.0f" % (r["perSecond"], r["latency"]["p99"]))'
}

ms() { date +%s%3N; }

# CPU seconds per server thread (utime + stime from /proc), to see who took the server's CPU.
threads_cpu() {
    python3 - "$SERVER" <<'PY'
import glob, os, sys
tick = os.sysconf("SC_CLK_TCK")
for stat in glob.glob("/proc/%s/task/*/stat" % sys.argv[1]):
    try: text = open(stat).read()
    except OSError: continue
    name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
    tid = stat.split("/")[4]  # threads are unnamed: key by id and nice (the dispatcher and admin loop run at nice 10)
    print("%s/nice%s\t%.2f" % (tid, fields[16], (int(fields[11]) + int(fields[12])) / tick))
PY
}
# Prints the threads' CPU used between two threads_cpu snapshots, most first.
cpu_between() {
    python3 - "$1" "$2" <<'PY'
import collections, sys
def load(path):
    totals = collections.Counter()
    for line in open(path):
        name, seconds = line.rsplit("\t", 1); totals[name] += float(seconds)
    return totals
a, b = load(sys.argv[1]), load(sys.argv[2])
used = sorted(((b[n] - a.get(n, 0), n) for n in b), reverse=True)
print("    server CPU s by thread: " + ", ".join("%s %.2f" % (n, s) for s, n in used if s >= 0.01))
PY
}

log "server $([ "$PIN" = 1 ] && echo "on core $SERVER_CPU (1 loop), generator and partner on core $GEN_CPU" || echo unpinned)"
echo "== deliveries per second"
QUEUED=$(queue_conversions)
start_partner
DELIVERED_BEFORE=$(metric 'trackstar_partner_deliveries_total{outcome="delivered"}')
T0=$(ms); resume
drained
T1=$(ms)
DELIVERED=$(( $(metric 'trackstar_partner_deliveries_total{outcome="delivered"}') - DELIVERED_BEFORE ))
echo "queued $QUEUED, delivered $DELIVERED in $((T1 - T0)) ms: $(( DELIVERED * 1000 / (T1 - T0) )) deliveries/s"

echo "== clicks during a delivery storm vs without (tsload keep-alive -c64 ${DURATION}s, $ROUNDS rounds alternated)"
: > "$WORK/without" ; : > "$WORK/storm" ; : > "$WORK/drained"
# Runs clicks() and samples the delivered count at the window's start and end (the same two admin
# requests in both kinds of round); sets R (clicks' output) and DRAINED (deliveries/s in the window).
clicks_counting() {
    local d0 d1
    clicks > "$WORK/clicks" &
    local pid=$!
    sleep 1; d0=$(metric 'trackstar_partner_deliveries_total{outcome="delivered"}')
    sleep "$DURATION"; d1=$(metric 'trackstar_partner_deliveries_total{outcome="delivered"}')
    wait "$pid"; R=$(cat "$WORK/clicks")
    DRAINED=$(( (${d1:-0} - ${d0:-0}) / DURATION ))
}
without() {
    local r
    threads_cpu > "$WORK/cpu0"; clicks_counting; r=$R; threads_cpu > "$WORK/cpu1"
    echo "$r" >> "$WORK/without"
    echo "  round $ROUND without a storm: ${r% *}/s, p99 ${r#* } µs"
    cpu_between "$WORK/cpu0" "$WORK/cpu1"
}
storm() {
    local queued r left
    stop_partner
    queued=$(queue_conversions)
    start_partner
    threads_cpu > "$WORK/cpu0"
    resume
    clicks_counting; r=$R
    threads_cpu > "$WORK/cpu1"
    left=$(metric trackstar_partner_queue)
    echo "$r" >> "$WORK/storm"
    echo "$DRAINED" >> "$WORK/drained"
    echo "  round $ROUND during a storm of $queued postbacks: ${r% *}/s, p99 ${r#* } µs; $DRAINED deliveries/s during the clicks ($left still queued at the end)"
    cpu_between "$WORK/cpu0" "$WORK/cpu1"
    drained
}
for ROUND in $(seq "$ROUNDS"); do
    if [ $(( ROUND % 2 )) = 1 ]; then without; storm; else storm; without; fi
done
python3 - "$WORK/without" "$WORK/storm" "$WORK/drained" <<'EOF'
import statistics, sys
def load(path): return [tuple(map(float, line.split())) for line in open(path) if line.strip()]
a, b = load(sys.argv[1]), load(sys.argv[2])
print("storm drain during the clicks: median %.0f deliveries/s" % statistics.median(x[0] for x in load(sys.argv[3])))
ra, rb = statistics.median(x[0] for x in a), statistics.median(x[0] for x in b)
pa, pb = statistics.median(x[1] for x in a), statistics.median(x[1] for x in b)
print("medians: without %.0f/s p99 %.0f µs; during a storm %.0f/s p99 %.0f µs" % (ra, pa, rb, pb))
print("storm vs without: throughput %.2fx (target >= 0.9), p99 %.2fx (target <= 1.5)" % (rb / ra, pb / pa))
print("per round: throughput " + "/".join("%.2f" % (y[0] / x[0]) for x, y in zip(a, b))
      + ", p99 " + "/".join("%.2f" % (y[1] / x[1]) for x, y in zip(a, b)))
EOF
grep -c "paused after" "$WORK/err.log" | sed 's/^/pauses logged: /' || true
grep -c "dispatcher's core is busy" "$WORK/err.log" | sed 's/^/pacing started (logged at most once a minute): /' || true
