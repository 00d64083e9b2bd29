#!/usr/bin/env bash
# Builds the libFuzzer harnesses (AddressSanitizer + libFuzzer) and runs each for a bounded time.
#
#   ./Fuzz/run.sh [seconds-per-harness] [harness...]
#
#   seconds-per-harness   default 60
#   harness               any of FuzzHTTPParser FuzzQueryDecoder FuzzClickID FuzzConfig FuzzRequests (default: all)
#
# Environment:
#   FUZZ_CONFIG=release|debug   build configuration (default release: ~5-10x the executions per second;
#                               debug adds Swift's debug-only bounds checks on unsafe buffers)
#   FUZZ_PARALLEL=N             run N harnesses at once (default 1)
#
# The committed seeds in Fuzz/corpus/<harness> are read-only; new inputs go to
# Fuzz/.build/corpus/<harness> (kept between runs), crashes to Fuzz/.build/artifacts/<harness>-crash-*.
# Exit status: 0 when every harness ran its time without a crash, 1 otherwise.
set -u
cd "$(dirname "$0")"

SECONDS_PER_HARNESS="${1:-60}"
shift || true
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=(FuzzHTTPParser FuzzQueryDecoder FuzzClickID FuzzConfig FuzzRequests)
CONFIG="${FUZZ_CONFIG:-release}"
PARALLEL="${FUZZ_PARALLEL:-1}"

# -parse-as-library: the harness files have no top-level code; libFuzzer supplies main (Package.swift
# uses tools version 5.4 so SwiftPM does not rename main to <module>_main, which would hide libFuzzer's).
# -enable-testing: FuzzQueryDecoder uses @testable import TrackstarServer (implied by debug builds).
BUILD=(swift build -c "$CONFIG" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing)
mkdir -p .build/artifacts .build/logs
echo "fuzz: ${BUILD[*]} (in Fuzz/)"
"${BUILD[@]}" >.build/logs/build.log 2>&1
build_status=$?
grep -E "error:|Build complete" .build/logs/build.log | head -20
if [ $build_status -ne 0 ]; then
    echo "fuzz: build failed (exit $build_status); full log in Fuzz/.build/logs/build.log" >&2
    exit 1
fi
BIN=".build/$CONFIG"
for h in "${HARNESSES[@]}"; do
    [ -x "$BIN/$h" ] || { echo "fuzz: $BIN/$h was not built" >&2; exit 1; }
done

# Per-harness libFuzzer options.
options() {
    case "$1" in
        FuzzHTTPParser) echo "-dict=dict/http.dict -max_len=4096" ;;
        FuzzQueryDecoder) echo "-dict=dict/query.dict -max_len=1024" ;;
        FuzzClickID) echo "-max_len=64" ;;
        FuzzConfig) echo "-dict=dict/toml.dict -max_len=4096" ;;
        FuzzRequests) echo "-max_len=2048" ;;
    esac
}

run_one() {
    local h="$1"
    mkdir -p ".build/corpus/$h"
    local log=".build/logs/$h.log"
    # malloc_context_size=2 keeps allocation stacks short (the reference models allocate a lot);
    # reproduce a crash with the full context by running the harness on the artifact alone.
    ASAN_OPTIONS="${ASAN_OPTIONS:-malloc_context_size=2:detect_leaks=1}" \
        "$BIN/$h" ".build/corpus/$h" "corpus/$h" $(options "$h") \
        -max_total_time="$SECONDS_PER_HARNESS" -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix=".build/artifacts/$h-" -print_final_stats=1 >"$log" 2>&1
    local status=$?
    local runs rate
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
    if [ $status -eq 0 ]; then
        printf 'fuzz: %-17s %12s executions in %ss (%s/s), no crash\n' "$h" "${runs:-?}" "$SECONDS_PER_HARNESS" "${rate:-?}"
    else
        printf 'fuzz: %-17s CRASH after %s executions (exit %s); log %s\n' "$h" "${runs:-?}" "$status" "Fuzz/$log"
        grep -E 'invariant violated|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY|Test unit written to|Fatal error' "$log" | head -8 | sed 's/^/    /'
        echo "    reproduce: Fuzz/$BIN/$h <artifact>   (then add the bytes to a regression test under Tests/)"
    fi
    return $status
}

failed=0
pids=()
for h in "${HARNESSES[@]}"; do
    run_one "$h" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$PARALLEL" ]; then
        wait "${pids[0]}" || failed=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit $failed
