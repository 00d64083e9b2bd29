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

# Stops every server this script started (SIGTERM, then SIGKILL after 5 s) and removes the temp dir.
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "loadtest: $*" >&2; }

# Waits up to 10 s for FILE to contain PATTERN; prints the first matching line.
wait_for() {
    local file=$1 pattern=$2
    for _ in $(seq 100); do
        if grep -q "$pattern" "$file" 2>/dev/null; then grep -m1 "$pattern" "$file"; return 0; fi
        sleep 0.1
    done
    log "timed out waiting for '$pattern' in $file:"; cat "$file" >&2; return 1
}

# The PORT in a "… listening on 127.0.0.1:PORT with …" line.
port_of() { sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p'; }

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
    "$TRACKSTAR" serve --config "$WORK/trackstar/trackstar.toml" --loops "$LOOPS" > "$WORK/trackstar/out.log" 2>&1 &
    TRACKSTAR_PID=$!; STARTED+=("$TRACKSTAR_PID")
    TRACKSTAR_PORT=$(wait_for "$WORK/trackstar/out.log" "listening on" | port_of)
    TRACKSTAR_BASE_RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/$TRACKSTAR_PID/status")
}

# nginx (Debian's nginx-light) answering `return 302`, with a temporary prefix so nothing in /var is used.
start_nginx() {
    local dir=$WORK/nginx port
    mkdir -p "$dir/logs"
    port=$("$BIN/tsload" free-port)
    cat > "$dir/nginx.conf" <<EOF
worker_processes $LOOPS;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server {
        listen 127.0.0.1:$port reuseport;
        location / { return 302 https://shop.example/landing?cid=000000000000YNFNCE97BZ6711&a=7; }
    }
}
EOF
    /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" > "$dir/out.log" 2>&1 &
    NGINX_PID=$!; STARTED+=("$NGINX_PID")
    for _ in $(seq 100); do [ "$(pgrep -c -P "$NGINX_PID" || true)" -ge "$LOOPS" ] && break; sleep 0.1; done
    curl -s -o /dev/null "http://127.0.0.1:$port/" || { log "nginx does not answer:"; cat "$dir/error.log" >&2; exit 1; }
    NGINX_PORT=$port
}

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
