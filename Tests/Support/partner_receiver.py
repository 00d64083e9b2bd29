#!/usr/bin/env python3
"""A partner's postback receiver for Trackstar's tests: records every request it gets and can
misbehave on purpose. Prints "listening PORT" on stdout once it accepts connections.

  --tls CERT KEY       serve https with this certificate
  --fail-first N       answer --fail-status to the first N requests for each distinct path
  --fail-status CODE   (default 500)
  --always-status CODE answer every request with CODE
  --drop-first N       close the connection without answering the first N requests per path
  --delay-ms MS        wait this long before answering
  --retry-after VALUE  send "Retry-After: VALUE" with every non-200 answer
  --ok-file PATH       while PATH exists, answer 200 to everything (a partner that recovered)
  --log FILE           append one line per request: "<unix ms> <method> <path>"
  --connections FILE   append one line per accepted connection: "<client host>:<client port>"
"""
import os
import argparse, http.server, signal, ssl, sys, threading, time

# The test runner may ignore SIGTERM, and children inherit that; this process must stop on it.
signal.signal(signal.SIGTERM, signal.SIG_DFL)

parser = argparse.ArgumentParser()
parser.add_argument("--tls", nargs=2)
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--fail-status", type=int, default=500)
parser.add_argument("--always-status", type=int, default=0)
parser.add_argument("--drop-first", type=int, default=0)
parser.add_argument("--delay-ms", type=int, default=0)
parser.add_argument("--retry-after")
parser.add_argument("--ok-file")
parser.add_argument("--log", required=True)
parser.add_argument("--connections")
args = parser.parse_args()

lock = threading.Lock()
seen = {}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        if args.connections:
            with lock:
                with open(args.connections, "a") as f:
                    f.write("%s:%d\n" % self.client_address[:2])

    def do_GET(self):
        with lock:
            count = seen.get(self.path, 0) + 1
            seen[self.path] = count
            with open(args.log, "a") as f:
                f.write("%d %s %s\n" % (int(time.time() * 1000), self.command, self.path))
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        recovered = args.ok_file and os.path.exists(args.ok_file)
        if count <= args.drop_first and not recovered:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status = args.always_status or (args.fail_status if count <= args.fail_first else 200)
        if recovered:
            status = 200
        body = b"ok" if status == 200 else b"receiver says no (%d)" % status
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if args.retry_after and status != 200:
            self.send_header("Retry-After", args.retry_after)
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if args.tls:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls[0], args.tls[1])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("listening %d" % server.server_address[1], flush=True)
server.serve_forever()
