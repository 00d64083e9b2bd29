#!/usr/bin/env bash
# The pinned comparison (issue 21): each server on core SERVER_CPU, the generator on GEN_CPU, one
# loop / one nginx worker / one floor thread, so the server's CPU decides throughput. Servers:
# Trackstar with the reporting feed off, Trackstar in its default configuration (SQLite feed on),
# nginx `return 302`, and the do-nothing floor responder. Measures, per round and server (servers
# alternated): keep-alive clicks, one connection per click (Connection: close), valid and forged
# postbacks (Trackstar, feed off), and clicks in open loop at half the slowest server's keep-alive rate. CPU
# is counted from the window's start until the server is idle again (the exporter's catch-up
# included). Only the measured server runs during a run: the others are stopped (SIGSTOP) meanwhile.
# Run from the repository root after `make release` (`make loadtest-pinned` does both).
# A/B tail mode (issue 19 item 3): with TRACKSTAR_B=<another trackstar binary>, only the open-loop
# runs, at RATE clicks/s (default 78000), servers alternated each round: A and B with the feed off,
# A and B in the default configuration, nginx; prints each one's p99 by round and the medians.
set -euo pipefail

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-64}        # keep-alive runs
CLOSE_CONNECTIONS=${CLOSE_CONNECTIONS:-16}  # one-connection-per-click runs (concurrent connects)
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACKSTAR=${TRACKSTAR:-$ROOT/.build/release/trackstar}
BIN=${LOADTEST_BIN:-$ROOT/loadtest/.build/release}  # LOADTEST_BIN=<dir with tsload, tsfloor>: use those, no build
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trackstar-pinned.XXXXXX")
RESULTS=${RESULTS:-$ROOT/loadtest/.build/pinned-results.jsonl}
STARTED=()
BEGAN=$(date +%s)
declare -A PORT PID

LOG_PREFIX=pinned
. "$ROOT/loadtest/lib.sh"

start_nginx() {
    start_nginx_with 1 "taskset -c $SERVER_CPU"
    PID[nginx]=$NGINX_PID; PORT[nginx]=$NGINX_PORT
}

start_floor() {
    taskset -c "$SERVER_CPU" "$BIN/tsfloor" --threads 1 > "$WORK/floor.log" 2>&1 &
    PID[floor]=$!; STARTED+=("$!")
    PORT[floor]=$(wait_for "$WORK/floor.log" "listening on" | port_of)
}

# Only the measured server runs during a run: every other server started here (nginx's worker too) is
# stopped with SIGSTOP and continued after it, so their timers and background threads (a snapshot
# thread's syncs, an exporter or dispatcher tick) never take the measured server's core. PAUSE_OTHERS=0
# runs them all side by side as before.
signal_others() {
    local sig=$1 measured=$2 name pid
    [ "${PAUSE_OTHERS:-1}" = 1 ] || return 0
    for name in "${!PID[@]}"; do
        [ "$name" = "$measured" ] && continue
        pid=${PID[$name]}
        kill -"$sig" "$pid" $(pgrep -P "$pid") 2>/dev/null || true
    done
}

# run MEASURE SERVER [tsload options…]
run() {
    local measure=$1 server=$2 line
    shift 2
    signal_others STOP "$server"
    if ! line=$(taskset -c "$GEN_CPU" "$BIN/tsload" --json --label "$measure/$server" --url "http://127.0.0.1:${PORT[$server]}" \
        --server-pid "${PID[$server]}" --duration "$DURATION" --warmup "$WARMUP" --threads 1 "$@"); then
        signal_others CONT "$server"; log "tsload failed against $server"; exit 1
    fi
    signal_others CONT "$server"
    echo "$line" >> "$RESULTS"
    LAST_RATE=$(sed -n 's/.*"perSecond":\([0-9.e+-]*\).*/\1/p' <<< "$line")
    log "round $ROUND $measure/$server: $(printf '%.0f' "$LAST_RATE")/s"
}

servers() {
    case $(( ROUND % 4 )) in
        1) echo trackstar trackstar-default nginx floor ;;
        2) echo trackstar-default nginx floor trackstar ;;
        3) echo nginx floor trackstar trackstar-default ;;
        0) echo floor trackstar trackstar-default nginx ;;
    esac
}

round() {
    local server slowest_rate="" trackstar_rate pool rate
    for server in $(servers); do
        run keepalive "$server" --scenario clicks --connections "$CONNECTIONS"
        slowest_rate=$(awk -v a="${slowest_rate:-$LAST_RATE}" -v b="$LAST_RATE" 'BEGIN { print (b < a ? b : a) }')
        [ "$server" = trackstar ] && trackstar_rate=$LAST_RATE
    done
    for server in $(servers); do
        run close "$server" --scenario clicks --connections "$CLOSE_CONNECTIONS" --close
    done
    pool=$(awk -v r="$trackstar_rate" -v s="$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { print d + w }')" 'BEGIN { p = int(1.5 * r * s); print (p < 100000 ? 100000 : p) }')
    run postbacks trackstar --scenario postbacks --pool "$pool" --connections "$CONNECTIONS"
    run forged trackstar --scenario forged --connections "$CONNECTIONS"
    # Half the slowest server's keep-alive rate: a load every server carries, so the p99s compare
    # servers at the same offered load rather than one of them past its capacity.
    rate=$(awk -v r="$slowest_rate" 'BEGIN { printf "%d", r * 0.5 }')
    for server in $(servers); do
        run open "$server" --scenario clicks --connections "$CONNECTIONS" --rate "$rate"
    done
}

# A/B tail mode: open loop only, A against B (feed off and default), nginx as the reference.
ab_servers() {
    case $(( ROUND % 2 )) in
        1) echo trackstar trackstar-b trackstar-default trackstar-b-default nginx ;;
        0) echo nginx trackstar-b-default trackstar-default trackstar-b trackstar ;;
    esac
}

ab_summary() {
    python3 - "$RESULTS" <<'PY'
import json, sys, statistics, collections
p99 = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    p99[r["label"].split("/", 1)[1]].append(r["latency"]["p99"])
names = ["trackstar", "trackstar-b", "trackstar-default", "trackstar-b-default", "nginx"]
for n in names:
    print(f"open loop p99 µs {n:20} median {statistics.median(p99[n]):9.0f}  by round " + " ".join(f"{v:.0f}" for v in p99[n]))
m = {n: statistics.median(p99[n]) for n in names}
print(f"B vs A, feed off: {m['trackstar-b'] / m['trackstar']:.2f}x; default: {m['trackstar-b-default'] / m['trackstar-default']:.2f}x")
for side, off, dflt in (("A", "trackstar", "trackstar-default"), ("B", "trackstar-b", "trackstar-b-default")):
    print(f"{side}: default vs feed off {m[dflt] / m[off]:.2f}x (target <= 1.5); default vs nginx {m[dflt] / m['nginx']:.2f}x (target <= 1.5); feed off vs nginx {m[off] / m['nginx']:.2f}x")
PY
}

command -v taskset >/dev/null || { log "taskset (util-linux) is missing"; exit 1; }
[ "$(nproc)" -ge 2 ] || { log "needs 2 cores (SERVER_CPU=$SERVER_CPU, GEN_CPU=$GEN_CPU)"; exit 1; }
[ -x "$TRACKSTAR" ] || { log "missing $TRACKSTAR: run 'make release' first"; exit 1; }
if [ -z "${LOADTEST_BIN:-}" ]; then
    log "building loadtest (release)"
    swift build -c release --package-path "$ROOT/loadtest" 2>&1 | tail -1 >&2
fi
: > "$RESULTS"
start_trackstar trackstar none
start_trackstar trackstar-default sqlite
start_nginx
if [ -n "${TRACKSTAR_B:-}" ]; then
    TRACKSTAR_A=$TRACKSTAR TRACKSTAR=$TRACKSTAR_B
    start_trackstar trackstar-b none
    start_trackstar trackstar-b-default sqlite
    TRACKSTAR=$TRACKSTAR_A
    log "A/B tail mode: A $TRACKSTAR, B $TRACKSTAR_B; open loop at ${RATE:-78000}/s"
    for ROUND in $(seq "$ROUNDS"); do
        for server in $(ab_servers); do run open "$server" --scenario clicks --connections "$CONNECTIONS" --rate "${RATE:-78000}"; done
    done
    ab_summary
    exit 0
fi
start_floor
log "servers on core $SERVER_CPU, generator on core $GEN_CPU: trackstar :${PORT[trackstar]}, trackstar-default :${PORT[trackstar-default]}, nginx :${PORT[nginx]}, floor :${PORT[floor]}"
for ROUND in $(seq "$ROUNDS"); do round; done
"$BIN/tsload" summarize --pinned "$RESULTS"
echo "pinned: $ROUNDS rounds in $(( $(date +%s) - BEGAN )) s; every run's JSON in $RESULTS"
