# Shell helpers shared by the loadtest scripts (compare.sh, pinned.sh, …): stopping what a script
# started, waiting for a server's "listening on" line, reading its port, starting a pinned Trackstar,
# waiting until a server is idle. Source it after setting
# WORK (a temp dir removed at exit), STARTED (pids to stop) and LOG_PREFIX.

# Stops every server the script started (SIGTERM, then SIGKILL after 5 s) and removes the temp dir.
cleanup() {
    local pid
    # A server a script stopped (SIGSTOP, pinned.sh) is continued first, or SIGTERM would wait.
    for pid in "${STARTED[@]}"; do kill -CONT "$pid" $(pgrep -P "$pid") 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "$LOG_PREFIX: $*" >&2; }

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

# start_trackstar NAME SINK: TRACKSTAR with one loop on SERVER_CPU, a fresh data dir $WORK/NAME, the
# reporting feed SINK; sets PID[NAME] and PORT[NAME] (associative arrays the script declares).
start_trackstar() {
    local name=$1 sink=$2 dir=$WORK/$1
    mkdir -p "$dir"
    "$BIN/tsload" trackstar-config --listen 127.0.0.1:0 --data-dir "$dir/data" --extra "[export]
sink = \"$sink\"" > "$dir/trackstar.toml"
    taskset -c "$SERVER_CPU" "$TRACKSTAR" serve --config "$dir/trackstar.toml" --loops 1 --admin-listen 127.0.0.1:0 > "$dir/out.log" 2>&1 &
    PID[$name]=$!; STARTED+=("$!")
    PORT[$name]=$(wait_for "$dir/out.log" "listening on" | port_of)
}

# Returns once process PID has used no CPU (all threads, user and system) for half a second: work it
# defers, such as the exporter's catch-up, is then done.
wait_until_idle() {
    local pid=$1 previous="" current
    while current=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat") && [ "$current" != "$previous" ]; do
        previous=$current; sleep 0.5
    done
}

# nginx (Debian's nginx-light) answering `return 302` with WORKERS worker processes, started under PIN
# (e.g. `taskset -c 0`) if given, with a temporary prefix so nothing in /var is used. Sets NGINX_PID
# and NGINX_PORT.
start_nginx_with() {
    local workers=$1 pin=${2:-}
    local dir=$WORK/nginx port
    mkdir -p "$dir/logs"
    port=$("$BIN/tsload" free-port)
    cat > "$dir/nginx.conf" <<EOF
worker_processes $workers;
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
        location / { return 302 https://shop.example/landing?cid=0WFADRC4E4BPZGA2K3TNKH4PJY&a=7; }
    }
}
EOF
    $pin /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" > "$dir/out.log" 2>&1 &
    NGINX_PID=$!; STARTED+=("$NGINX_PID")
    for _ in $(seq 100); do [ "$(pgrep -c -P "$NGINX_PID" || true)" -ge "$workers" ] && break; sleep 0.1; done
    curl -s -o /dev/null "http://127.0.0.1:$port/" || { log "nginx does not answer:"; cat "$dir/error.log" >&2; exit 1; }
    NGINX_PORT=$port
}
