#!/usr/bin/env bash
# Catalog changes under load (issue 16): Trackstar pinned to SERVER_CPU (one loop; its admin loop on
# the same core), the click generator and the API writer on GEN_CPU. Each round runs the same open-loop
# click load twice, alternating: once quiet, once while CHANGES offer edits (PATCH through the
# management API, paced over the window) are applied. Reports every click that failed, the click p99
# of both, their ratio, and how long changes took to reach every loop (GET /api/v1/status). Run from
# the repository root after `make release`. Last, with no click load, CPU_CHANGES back-to-back edits
# give the server's CPU time per change (utime + stime from /proc, which load on other cores does
# not inflate): ROUNDS=0 measures only that.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
RATE=${RATE:-5000}
CHANGES=${CHANGES:-1000}
CPU_CHANGES=${CPU_CHANGES:-1000}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACKSTAR=${TRACKSTAR:-$ROOT/.build/release/trackstar}
BIN=${TSLOAD_DIR:-$ROOT/loadtest/.build/release}  # TSLOAD_DIR: a tsload already built (not rebuilt here)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trackstar-catalog.XXXXXX")
RESULTS=${RESULTS:-$ROOT/loadtest/.build/catalog-changes.jsonl}
STARTED=()
LOG_PREFIX=catalog
. "$ROOT/loadtest/lib.sh"

[ -x "$TRACKSTAR" ] || { log "missing $TRACKSTAR: run 'make release' first"; exit 1; }
[ -n "${TSLOAD_DIR:-}" ] || swift build -c release --package-path "$ROOT/loadtest" 2>&1 | tail -1 >&2
TOKEN="load-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
DIGEST=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
"$BIN/tsload" trackstar-config --listen 127.0.0.1:0 --data-dir "$WORK/data" --extra "[export]
sink = \"none\"

[[admin.tokens]]
name = \"loadtest\"
sha256 = \"$DIGEST\"
role = \"editor\"" > "$WORK/trackstar.toml"
taskset -c "$SERVER_CPU" "$TRACKSTAR" serve --config "$WORK/trackstar.toml" --loops 1 --admin-listen 127.0.0.1:0 > "$WORK/out.log" 2>&1 &
PID=$!; STARTED+=("$PID")
PORT=$(wait_for "$WORK/out.log" "listening on" | port_of)
ADMIN=$(wait_for "$WORK/out.log" "admin listening on" | sed -n 's/.*admin listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p')
log "trackstar :$PORT (admin $ADMIN) on core $SERVER_CPU; clicks at $RATE/s and the writer on core $GEN_CPU"
mkdir -p "$(dirname "$RESULTS")"; : > "$RESULTS"

# writer SECONDS [COUNT]: COUNT (default CHANGES) offer URL edits over SECONDS on one keep-alive
# connection (0: back to back); prints "OK FAILED".
writer() {
    taskset -c "$GEN_CPU" python3 - "$ADMIN" "$TOKEN" "${2:-$CHANGES}" "$1" <<'PY'
import http.client, json, sys, time
admin, token, changes, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
host, port = admin.split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=30)
ok = failed = 0
start = time.monotonic()
for n in range(changes):
    delay = start + n * seconds / changes - time.monotonic()
    if delay > 0: time.sleep(delay)
    body = json.dumps({"url": f"https://shop.example/o{n % 50 + 1}?v={n}&cid={{click_id}}"})
    conn.request("PATCH", f"/api/v1/offers/{n % 50 + 1}", body, {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    response = conn.getresponse(); response.read()
    if response.status == 200: ok += 1
    else: failed += 1
print(ok, failed)
PY
}

run() {  # run LABEL: one open-loop window; prints its JSON line
    taskset -c "$GEN_CPU" "$BIN/tsload" --json --label "$1" --url "http://127.0.0.1:$PORT" --server-pid "$PID" \
        --duration "$DURATION" --warmup "$WARMUP" --threads 1 --connections "$CONNECTIONS" --rate "$RATE" --scenario clicks
}

# summary JSON_LINE: rate, p99 and every kind of failure of one window.
summary() {
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.0f/s p99 %.0f us, errors %d, unexpected %d, unfinished %d, statuses %s" % (r["perSecond"], r["latency"]["p99"], r["errors"], r["unexpected"], r["unfinished"], r["kinds"][0]["statuses"] if r["kinds"] else {}))' "$1"
}

# cpu_ticks: the server's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }

for ROUND in $(seq "$ROUNDS"); do
    for mode in $( [ $((ROUND % 2)) = 1 ] && echo "quiet changes" || echo "changes quiet" ); do
        if [ "$mode" = changes ]; then
            writer "$DURATION" > "$WORK/writer.out" &
            WRITER=$!
            sleep "$WARMUP"
            line=$(run "changes")
            wait "$WRITER"
            log "round $ROUND changes: writer ok/failed $(cat "$WORK/writer.out")"
        else
            line=$(run "quiet")
        fi
        echo "$line" >> "$RESULTS"
        log "round $ROUND $mode: $(summary "$line")"
    done
done
STATUS=$(curl -s -H "Authorization: Bearer $TOKEN" "http://$ADMIN/api/v1/status")
BEFORE=$(cpu_ticks)
CPU_WRITER=$(writer 0 "$CPU_CHANGES")
AFTER=$(cpu_ticks)
python3 -c 'import sys; t, n, hz = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]); print(f"server CPU per change, no click load: {1000 * t / hz / n:.3f} ms ({n} back-to-back PATCHes, writer ok/failed {sys.argv[4]})")' \
    "$((AFTER - BEFORE))" "$CPU_CHANGES" "$(getconf CLK_TCK)" "$CPU_WRITER"
[ "$ROUNDS" -gt 0 ] || exit 0
python3 - "$RESULTS" "$STATUS" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
status = json.loads(sys.argv[2])
def p99s(label): return [r["latency"]["p99"] for r in runs if r["label"] == label]
quiet, changes = p99s("quiet"), p99s("changes")
failed = sum(r["errors"] + r["unexpected"] for r in runs)
inflight = sum(r["unfinished"] for r in runs)
print(f"clicks: {sum(r['requests'] for r in runs)} answered, {failed} failed (connection errors + statuses other than 302), {inflight} still in flight when a window closed")
print(f"click p99 µs, quiet:   {', '.join(f'{v:.0f}' for v in quiet)} (median {statistics.median(quiet):.0f})")
print(f"click p99 µs, changes: {', '.join(f'{v:.0f}' for v in changes)} (median {statistics.median(changes):.0f})")
print(f"ratio changes/quiet (medians): {statistics.median(changes) / statistics.median(quiet):.2f} (target ≤ 1.2)")
print(f"changes applied: {status['changes']}; visible on every loop after p50 {status['apply_p50_us']} µs, p99 {status['apply_p99_us']} µs, max {status['apply_max_us']} µs (last {status['apply_count']})")
PY
