#!/usr/bin/env bash
# ExportFigures of two builds in one run, alternating: CPU per exported row = the process's CPU of a
# full run minus that of a fill-only run (EXPORT_FIGURES_SKIP_SQLITE=1) of the same binary, so the
# figure holds for a build whose ExportFigures does not print its own CPU time.
# Usage: Benchmarks/Figures/compare-export.sh BASE_BINARY NEW_BINARY [records, default 1000000] [rounds, default 3]
set -euo pipefail
BASE=$1 NEW=$2 RECORDS=${3:-1000000} ROUNDS=${4:-3}
cpu() {  # cpu BINARY [env…]: user+system seconds of one run; its output to stderr
    local out
    out=$( { env "${@:2}" /usr/bin/time -f "TIME %U %S" "$1" "$RECORDS" >&2; } 2>&1 )
    echo "$out" | grep -v '^TIME' >&2
    echo "$out" | awk '/^TIME/ { print $2 + $3 }'
}
for round in $(seq "$ROUNDS"); do
    for name in base new; do
        bin=$BASE; [ "$name" = new ] && bin=$NEW
        fill=$(cpu "$bin" EXPORT_FIGURES_SKIP_SQLITE=1)
        full=$(cpu "$bin" X=1)
        awk -v n="$name" -v r="$round" -v f="$fill" -v a="$full" -v rec="$RECORDS" \
            'BEGIN { printf "round %d %s: export CPU %.2f s = %.2f us/row (fill %.2f s)\n", r, n, a - f, (a - f) * 1e6 / rec, f }'
    done
done
