#!/usr/bin/env bash
# Partner-postback figures, on loopback, release builds:
#  1. deliveries per second: conversions queue while the partner endpoint is paused; then the partner
#     (tsfloor --ok, a libuv responder answering 200) comes up, the endpoint is resumed through the
#     admin listener, and the queue is timed until empty;
#  2. click throughput (wrk, 64 connections) while such a delivery storm drains, against without,
#     alternating, two rounds each.
# Usage: loadtest/deliveries.sh [CONVERSION_SECONDS]   (run by `make loadtest-deliveries`)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_POSTBACKS=${1:-4}
BIN=$PWD/.build/release/trackstar
LT=$PWD/loadtest/.build/release
WORK=$(mktemp -d /tmp/trackstar-deliveries.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

RPORT=$("$LT/tsload" free-port)
APORT=$("$LT/tsload" free-port)
"$LT/tsload" trackstar-config --listen 127.0.0.1:0 --data-dir "$WORK/data" \
    --postback-url "http://127.0.0.1:$RPORT/pb?conv={conversion_id}&cid={aff_click_id}&s1={sub1}&p={payout}&e={event}" \
    --extra "[admin]
listen = \"127.0.0.1:$APORT\"

[export]
sink = \"none\"

[delivery]
pause_after = 1
max_per_endpoint = 16
retry_base = \"1h\"" > "$WORK/trackstar.toml"

"$BIN" serve --config "$WORK/trackstar.toml" > "$WORK/out.log" 2> "$WORK/err.log" &
PIDS+=($!)
SERVER=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/out.log" 2>/dev/null && break; sleep 0.1; done
PORT=$(grep -o "listening on 127.0.0.1:[0-9]*" "$WORK/out.log" | head -1 | sed 's/.*://')
ADMIN="http://127.0.0.1:$APORT"
metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# Conversions while the partner is down: the first failure pauses the endpoint, the rest queue.
queue_conversions() {
    "$LT/tsload" --url "http://127.0.0.1:$PORT" --scenario postbacks --pool 200000 --duration "$SECONDS_OF_POSTBACKS" \
        --warmup 0 --connections 32 --json > /dev/null
    local last=-1 now
    while now=$(metric trackstar_partner_queue); [ "$now" != "$last" ]; do last=$now; sleep 0.5; done
    echo "$now"
}

# The partner runs at nice 19: in production it is another machine, so its CPU is not the server's;
# on this 2-core box it would otherwise compete with the click loops as if it were.
start_partner() {
    nice -n 19 "$LT/tsfloor" --ok --listen "127.0.0.1:$RPORT" --threads 1 > /dev/null &
    PARTNER=$!
    PIDS+=($PARTNER)
    sleep 0.3
}

resume() { curl -s -X POST "$ADMIN/deliveries/resume?endpoint=http://127.0.0.1:$RPORT" > /dev/null; }

clicks() {  # requests/s of clicks for 5 s
    wrk -t1 -c64 -d5 "http://127.0.0.1:$PORT/click?offer_id=1&aff_id=1&sub1=storm" | awk '/Requests\/sec/ { print $2 }'
}

ms() { date +%s%3N; }

echo "== deliveries per second"
QUEUED=$(queue_conversions)
start_partner
DELIVERED_BEFORE=$(metric 'trackstar_partner_deliveries_total{outcome="delivered"}')
T0=$(ms); resume
while [ "$(metric trackstar_partner_queue)" != "0" ]; do sleep 0.05; done
T1=$(ms)
DELIVERED=$(( $(metric 'trackstar_partner_deliveries_total{outcome="delivered"}') - DELIVERED_BEFORE ))
echo "queued $QUEUED, delivered $DELIVERED in $((T1 - T0)) ms: $(( DELIVERED * 1000 / (T1 - T0) )) deliveries/s"

echo "== click throughput during a delivery storm vs without (wrk -t1 -c64 -d5, 2 rounds)"
for round in 1 2; do
    BASE=$(clicks)
    kill "$PARTNER"; wait "$PARTNER" 2>/dev/null || true
    QUEUED=$(queue_conversions)
    start_partner
    resume
    STORM=$(clicks)
    LEFT=$(metric trackstar_partner_queue)
    echo "round $round: without $BASE/s, during a storm of $QUEUED postbacks $STORM/s ($LEFT still queued at the end)" \
        "ratio $(awk -v a="$STORM" -v b="$BASE" 'BEGIN { printf "%.2f", a / b }')"
    while [ "$(metric trackstar_partner_queue)" != "0" ]; do sleep 0.1; done
done
grep -c "paused after" "$WORK/err.log" | sed 's/^/pauses logged: /'
