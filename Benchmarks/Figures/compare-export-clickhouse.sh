#!/usr/bin/env bash
# ExportFigures of two builds against one loopback clickhouse-server of its own, alternating base and
# new in one run (issue 19). Each line is ExportFigures' own: wall rows/s and the process's CPU per row
# (the exporter threads'; the server's CPU is not in it). SQLite is skipped.
# Usage: Benchmarks/Figures/compare-export-clickhouse.sh BASE_BINARY NEW_BINARY [records, default 1000000] [rounds, default 2]
# Build a binary: a package with one executable target over Benchmarks/Figures/ExportFigures/main.swift
# depending on the checkout (or `swift build -c release --product ExportFigures` in Benchmarks/).
set -euo pipefail
BASE=$1 NEW=$2 RECORDS=${3:-1000000} ROUNDS=${4:-2}
DIR=$(mktemp -d /tmp/trackstar-chfig-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TCP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DIR/data"
cat > "$DIR/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$DIR/server.log</log><errorlog>$DIR/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>$PORT</http_port><tcp_port>$TCP</tcp_port><listen_host>127.0.0.1</listen_host>
  <max_connections>64</max_connections><max_concurrent_queries>32</max_concurrent_queries>
  <mark_cache_size>67108864</mark_cache_size><uncompressed_cache_size>67108864</uncompressed_cache_size>
  <path>$DIR/data/</path><tmp_path>$DIR/tmp/</tmp_path><user_files_path>$DIR/user_files/</user_files_path>
  <format_schema_path>$DIR/format_schemas/</format_schema_path><users_config>$DIR/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database><timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
EOF
cat > "$DIR/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows>
    <read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
/usr/sbin/clickhouse-server --config-file="$DIR/config.xml" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null && break; sleep 0.1; done
echo "clickhouse-server $(/usr/sbin/clickhouse-server --version 2>/dev/null | head -1) on port $PORT; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    for name in base new; do
        bin=$BASE; [ "$name" = new ] && bin=$NEW
        echo "== round $round $name"
        EXPORT_FIGURES_SKIP_SQLITE=1 "$bin" "$RECORDS" "http://127.0.0.1:$PORT" | grep -v '^  '
    done
done
