#!/usr/bin/env bash
# Compares Trackstar with nginx `return 302` and the do-nothing floor responder under the same tsload
# load, servers alternated within each round, and prints one table of medians and ratios. A second
# floor, tsfloor-uring, receives through io_uring as Trackstar's loops do: its row separates the
# receive mechanism's share of a request's cost from Trackstar's own work. Run from the
# repository root after `make release` (`make loadtest` does both); everything it starts, it stops.
set -euo pipefail

ROUNDS=${ROUNDS:-4}            # rounds of A/B alternation
DURATION=${DURATION:-5}        # measured seconds per run
WARMUP=${WARMUP:-1}            # warm-up seconds per run
CONNECTIONS=${CONNECTIONS:-64} # keep-alive connections per run
THREADS=${THREADS:-1}          # tsload threads
LOOPS=${LOOPS:-2}              # server threads: trackstar loops, nginx workers, floor threads
# TRACKSTAR_EXPORT=none|sqlite (default sqlite): the reporting feed on or off in the trackstar under test

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACKSTAR=$ROOT/.build/release/trackstar
BIN=$ROOT/loadtest/.build/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trackstar-loadtest.XXXXXX")
RESULTS=${RESULTS:-$ROOT/loadtest/.build/loadtest-results.jsonl}  # every run's JSON, kept for a look afterwards
STARTED=()
BEGAN=$(date +%s)

LOG_PREFIX=loadtest
. "$ROOT/loadtest/lib.sh"

build() {
    [ -x "$TRACKSTAR" ] || { log "missing $TRACKSTAR: run 'make release' first"; exit 1; }
    log "building loadtest (release)"
    swift build -c release --package-path "$ROOT/loadtest" 2>&1 | tail -1 >&2
}

# Trackstar with a fresh data dir and a generated config for tsload's campaign.
start_trackstar() {
    mkdir -p "$WORK/trackstar"
    # TRACKSTAR_EXPORT=none measures the engine alone (clicks still recorded durably in its logs);
    # the default, sqlite, includes the reporting feed's thread exporting every click and postback.
    "$BIN/tsload" trackstar-config --listen 127.0.0.1:0 --data-dir "$WORK/trackstar/data" \
        --extra "[export]
sink = \"${TRACKSTAR_EXPORT:-sqlite}\"" > "$WORK/trackstar/trackstar.toml"
    "$TRACKSTAR" check-config "$WORK/trackstar/trackstar.toml" >&2
    "$TRACKSTAR" serve --config "$WORK/trackstar/trackstar.toml" --loops "$LOOPS" --admin-listen 127.0.0.1:0 > "$WORK/trackstar/out.log" 2>&1 &
    TRACKSTAR_PID=$!; STARTED+=("$TRACKSTAR_PID")
    TRACKSTAR_PORT=$(wait_for "$WORK/trackstar/out.log" "listening on" | port_of)
    TRACKSTAR_BASE_RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/$TRACKSTAR_PID/status")
}

start_nginx() { start_nginx_with "$LOOPS"; }

start_floor() {
    "$BIN/tsfloor" --threads "$LOOPS" > "$WORK/floor.log" 2>&1 &
    FLOOR_PID=$!; STARTED+=("$FLOOR_PID")
    FLOOR_PORT=$(wait_for "$WORK/floor.log" "listening on" | port_of)
    "$BIN/tsfloor-uring" --threads "$LOOPS" > "$WORK/floor-uring.log" 2>&1 &
    URING_PID=$!; STARTED+=("$URING_PID")
    URING_PORT=$(wait_for "$WORK/floor-uring.log" "listening on" | port_of)
}

# run LABEL SERVER [tsload options…]: one tsload run against SERVER, appended to the results.
run() {
    local label=$1 server=$2 port pid line
    shift 2
    case $server in
        trackstar) port=$TRACKSTAR_PORT; pid=$TRACKSTAR_PID ;;
        nginx) port=$NGINX_PORT; pid=$NGINX_PID ;;
        floor) port=$FLOOR_PORT; pid=$FLOOR_PID ;;
        floor-uring) port=$URING_PORT; pid=$URING_PID ;;
    esac
    if ! line=$("$BIN/tsload" --json --label "$label/$server" --url "http://127.0.0.1:$port" --server-pid "$pid" \
        --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNECTIONS" --threads "$THREADS" "$@"); then
        diagnose "$server" "$pid"; exit 1
    fi
    echo "$line" >> "$RESULTS"
    LAST_RATE=$(field perSecond <<< "$line")
    log "round $ROUND $label/$server: $(printf '%.0f' "$LAST_RATE")/s, p99 $(sed -n 's/.*"latency":{[^}]*"p99":\([0-9.]*\).*/\1/p' <<< "$line") µs"
}

# Says whether a server that tsload could not use is still running, and shows the end of its log.
diagnose() {
    local server=$1 pid=$2 logfile
    case $server in
        trackstar) logfile=$WORK/trackstar/out.log ;; nginx) logfile=$WORK/nginx/error.log ;;
        floor) logfile=$WORK/floor.log ;; floor-uring) logfile=$WORK/floor-uring.log ;;
    esac
    if kill -0 "$pid" 2>/dev/null; then log "$server (pid $pid) is still running"; else log "$server (pid $pid) has exited"; fi
    tail -5 "$logfile" >&2 || true
}

# The number after "NAME": in one line of JSON, its last occurrence: keys are sorted, so the top-level
# perSecond and latency come after the per-kind ones.
field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }

# The servers, in an order that rotates with the round so no server always goes first.
servers() {
    case $(( ROUND % 4 )) in
        1) echo trackstar nginx floor floor-uring ;;
        2) echo nginx floor floor-uring trackstar ;;
        3) echo floor floor-uring trackstar nginx ;;
        0) echo floor-uring trackstar nginx floor ;;
    esac
}

# One round: clicks closed loop on all three, postbacks and forged postbacks on Trackstar, then open
# loop at 80% of the rate nginx just reached, on all three.
round() {
    local server nginx_rate trackstar_rate pool
    for server in $(servers); do
        run clicks "$server" --scenario clicks
        [ "$server" = nginx ] && nginx_rate=$LAST_RATE
        [ "$server" = trackstar ] && trackstar_rate=$LAST_RATE
    done
    pool=$(awk -v r="$trackstar_rate" -v s="$((DURATION + WARMUP))" 'BEGIN { p = int(1.5 * r * s); print (p < 100000 ? 100000 : p) }')
    run postbacks trackstar --scenario postbacks --pool "$pool"
    run forged trackstar --scenario forged
    local rate
    rate=$(awk -v r="$nginx_rate" 'BEGIN { printf "%d", r * 0.8 }')
    for server in $(servers); do
        [ "$server" = floor-uring ] && continue  # the open-loop comparison is against nginx
        run open "$server" --scenario clicks --rate "$rate"
    done
}

build
: > "$RESULTS"
start_trackstar
start_nginx
start_floor
log "trackstar :$TRACKSTAR_PORT (pid $TRACKSTAR_PID, $(grep -o 'loops ([a-z_]*)' "$WORK/trackstar/out.log")), nginx :$NGINX_PORT (pid $NGINX_PID), floor :$FLOOR_PORT (pid $FLOOR_PID), floor-uring :$URING_PORT (pid $URING_PID)"
for ROUND in $(seq "$ROUNDS"); do round; done
"$BIN/tsload" summarize "$RESULTS" --baseline-rss-kb "$TRACKSTAR_BASE_RSS"
echo "loadtest: $ROUNDS rounds in $(( $(date +%s) - BEGAN )) s; every run's JSON in $RESULTS"
