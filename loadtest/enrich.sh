#!/usr/bin/env bash
# Click enrichment under load (issue 13): one Trackstar with geo, agents, bots and uniqueness on and
# one with them off (the TRACKSTAR_MEASURE_ENRICHMENT_OFF hook), each pinned to SERVER_CPU with one
# loop, wrk pinned to GEN_CPU with loadtest/enrich.lua, servers alternated within each round. Per
# run: clicks/s, server CPU per click (utime + stime of the server over the run / clicks) and RSS.
# Modes: "mix" (300 agents Zipf-skewed, 4,096 forwarded addresses), "cached" (one agent), "distinct"
# (a new agent every click). Prints medians and the ratios the issue asks for. Needs `make release`.
set -euo pipefail

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACKSTAR=${TRACKSTAR:-$ROOT/.build/release/trackstar}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trackstar-enrich.XXXXXX")
RESULTS=${RESULTS:-$WORK/results.txt}
STARTED=()
declare -A PORT PID
TICKS=$(getconf CLK_TCK)

LOG_PREFIX=enrich
. "$ROOT/loadtest/lib.sh"

# start NAME [ENV=VALUE…]: one loop on the server core, a fresh data dir, geo and bot rules on.
start() {
    local name=$1 dir=$WORK/$1
    shift
    mkdir -p "$dir"
    cat > "$dir/trackstar.toml" <<TOML
[server]
listen = "127.0.0.1:0"
trusted_proxies = ["127.0.0.0/8"]

[storage]
data_dir = "$dir/data"
fsync = "none"

[geo]
database = "libloc"

[bots]
user_agent_substrings = ["HeadlessChrome", "python-requests"]
asns = [16509, 14618, 8075]

[export]
sink = "none"

[[offers]]
id = 1
url = "https://shop.example/landing?cid={click_id}&a={aff_id}&s1={sub1}&c={country}&d={device}"

[[affiliates]]
id = 7
TOML
    env "$@" taskset -c "$SERVER_CPU" "$TRACKSTAR" serve --config "$dir/trackstar.toml" --loops 1 --admin-listen 127.0.0.1:0 > "$dir/out.log" 2>&1 &
    PID[$name]=$!; STARTED+=("$!")
    PORT[$name]=$(wait_for "$dir/out.log" "listening on" | port_of)
}

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Anonymous resident memory (heap, tables, caches); the click logs' mapped pages are file memory.
rss_kib() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status"; }

# run MODE SERVER [SECONDS]: one wrk run; appends "MODE SERVER clicks/s µs/click RssAnon-KiB" to RESULTS.
run() {
    local mode=$1 server=$2 seconds=${3:-$DURATION} before after out requests
    before=$(ticks "${PID[$server]}")
    out=$(taskset -c "$GEN_CPU" wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" -s "$ROOT/loadtest/enrich.lua" \
        "http://127.0.0.1:${PORT[$server]}" -- "$mode")
    after=$(ticks "${PID[$server]}")
    if grep -q "Non-2xx" <<< "$out"; then log "errors from $server:"; echo "$out" >&2; exit 1; fi
    requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<< "$out")
    [ "$seconds" = "$DURATION" ] || return 0
    awk -v m="$mode" -v s="$server" -v r="$requests" -v d="$seconds" -v c="$((after - before))" -v t="$TICKS" -v k="$(rss_kib "${PID[$server]}")" \
        'BEGIN { printf "%s %s %.0f %.2f %d\n", m, s, r / d, c / t * 1e6 / r, k }' >> "$RESULTS"
    log "round $ROUND $(tail -1 "$RESULTS")"
}

start on
start off TRACKSTAR_MEASURE_ENRICHMENT_OFF=1
ROUND=0
for server in on off; do for mode in cached mix distinct; do run "$mode" "$server" 1; done; done  # warm-up
for ROUND in $(seq "$ROUNDS"); do
    if [ $((ROUND % 2)) = 1 ]; then order="on off"; else order="off on"; fi
    for mode in mix cached distinct; do
        for server in $order; do run "$mode" "$server"; done
    done
done

echo "# medians over $ROUNDS rounds: mode server clicks/s µs-CPU/click max-RssAnon-KiB (server core $SERVER_CPU, wrk core $GEN_CPU)"
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
declare -A RATE CPU
for mode in mix cached distinct; do
    for server in on off; do
        RATE[$mode/$server]=$(awk -v m="$mode" -v s="$server" '$1 == m && $2 == s { print $3 }' "$RESULTS" | median)
        CPU[$mode/$server]=$(awk -v m="$mode" -v s="$server" '$1 == m && $2 == s { print $4 }' "$RESULTS" | median)
        echo "$mode $server ${RATE[$mode/$server]} ${CPU[$mode/$server]} $(awk -v m="$mode" -v s="$server" '$1 == m && $2 == s { print $5 }' "$RESULTS" | sort -n | tail -1)"
    done
done
awk -v a="${CPU[mix/on]}" -v b="${CPU[mix/off]}" 'BEGIN { printf "CPU per click, all on / off, mix: %.3f×\n", a / b }'
awk -v a="${CPU[cached/on]}" -v b="${CPU[cached/off]}" 'BEGIN { printf "CPU per click, all on / off, cached agent: %.3f×\n", a / b }'
awk -v a="${RATE[distinct/on]}" -v b="${RATE[cached/on]}" 'BEGIN { printf "throughput, distinct agents / cached agent (on): %.3f×\n", a / b }'
echo "enriched server at the end: $(awk '/^(RssAnon|RssFile|VmHWM)/ { printf "%s %s KiB  ", $1, $2 }' "/proc/${PID[on]}/status")"
