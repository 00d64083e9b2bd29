#!/usr/bin/env bash
# Fuzzes the management API from its own OpenAPI document (schemathesis, property-based): a live server
# on ephemeral ports with a seeded catalog; every answer must be non-5xx and match the document
# (status, content type, headers, body schema). Usage: Tests/Api/schemathesis.sh [MAX_EXAMPLES]
# Needs the debug build (make test builds it) and python3; schemathesis goes into .build/api-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
EXAMPLES="${1:-25}"
VENV=.build/api-venv
if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'schemathesis>=4,<5'
fi
BIN="${TRACKSTAR_BINARY:-.build/debug/trackstar}"
DIR="$(mktemp -d /tmp/trackstar-api-XXXXXX)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
TOKEN="fuzz-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
DIGEST="$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)"
cat > "$DIR/api.toml" <<TOML
[admin]
listen = "127.0.0.1:0"

[[admin.tokens]]
name = "fuzzer"
sha256 = "$DIGEST"
role = "admin"

[[offers]]
id = 1
url = "https://shop.example/?cid={click_id}"
payout = 2.50

[[affiliates]]
id = 7
postback_url = "https://partner.example/pb?c={aff_click_id}"

[[postbacks]]
aff_id = 7
offer_id = 1
url = "https://partner.example/offer1?c={aff_click_id}"

[[postback_profiles]]
name = "partner"
extends = "trackstar"
TOML
"$BIN" serve --config "$DIR/api.toml" --listen 127.0.0.1:0 --data-dir "$DIR/data" --loops 2 --geo off >"$DIR/out" 2>"$DIR/err" &
SERVER_PID=$!
for _ in $(seq 1 200); do grep -q "admin listening on" "$DIR/out" 2>/dev/null && break; sleep 0.1; done
ADMIN="$(sed -n 's/.*admin listening on \([0-9.:]*\).*/\1/p' "$DIR/out")"
[ -n "$ADMIN" ] || { echo "the server did not start:"; cat "$DIR/err"; exit 1; }
# positive_data_acceptance is left out on purpose: the document types each key, but a value's full
# rules (URL macros, duration syntax, references between objects) are the config loader's, answered 422.
# Run from .build so schemathesis's own cache (.schemathesis/) stays out of the source tree.
(cd .build && api-venv/bin/schemathesis run "http://$ADMIN/api/v1/openapi.json" \
    --checks all --exclude-checks positive_data_acceptance \
    -H "Authorization: Bearer $TOKEN" --max-examples "$EXAMPLES" --workers 1 --seed 16 \
    --report junit --report-dir api-report)
