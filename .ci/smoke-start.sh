#!/usr/bin/env bash
# `npm start` on a fresh checkout (first JSON line = first log line; npm prints its own banner first): it must come up with the embedded store, answer S3, say where its events go, stop on SIGTERM with 0, and the request's event is in data/audit.jsonl.
set -euo pipefail
dir=$(mktemp -d)
log="$dir/start.log"
S3AP_DATA_DIR="$dir/data" S3AP_LISTEN=127.0.0.1:0 S3AP_ADMIN_LISTEN=127.0.0.1:0 npm start >"$log" 2>&1 &
pid=$!
cleanup() { pkill -KILL -f "$dir/data" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; }
trap cleanup EXIT
url=""
for _ in $(seq 1 100); do
  url=$(grep -o '"listen":"http://[^"]*"' "$log" | head -1 | cut -d'"' -f4 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then echo "npm start did not come up:"; cat "$log"; kill "$pid" 2>/dev/null || true; exit 1; fi
grep -m1 '^{' "$log" | grep -q 'embedded local S3 store' || { echo "first log line does not announce the embedded store"; cat "$log"; exit 1; }
code=$(curl -s -o "$dir/body.xml" -w '%{http_code}' "$url/" || true)
# An unsigned ListBuckets: the store answers it with S3 XML, proof the S3 endpoint is up.
grep -q '<?xml' "$dir/body.xml" || { echo "no S3 XML from $url/ (status $code)"; cat "$log"; exit 1; }
# npm start runs node as a child: signal the node process itself, as a container runtime would.
node_pid=$(grep -m1 -o '"pid":[0-9]*' "$log" | cut -d: -f2)
kill -TERM "$node_pid"
wait "$pid" && rc=0 || rc=$?
[ "$rc" = 0 ] || { echo "npm start exited $rc after SIGTERM"; cat "$log"; exit 1; }
grep -q 'shutdown complete' "$log" || { echo "no clean shutdown (rc=$rc)"; cat "$log"; exit 1; }
grep -q "\"auditLog\":\"$dir/data/audit.jsonl\"" "$log" || { echo "the start-up log does not say where events go"; cat "$log"; exit 1; }
grep -q '"name":"ListBuckets"' "$dir/data/audit.jsonl" || { echo "the ListBuckets event is not in data/audit.jsonl"; cat "$log"; exit 1; }
echo "smoke ok: $url answered $code, its event is in data/audit.jsonl, clean shutdown"
rm -rf "$dir"
