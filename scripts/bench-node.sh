#!/usr/bin/env bash
# Single-node benchmarks of issue 2: ASYNC puts, gets, SYNC puts (group commit), each
# run RUNS times against a fresh server process on 127.0.0.1, client and server on the
# same machine, 100-byte values, 64 requests in flight. Prints every run's JSON summary
# line and the median ops/s per scenario.
#
#   mvn -B -ntp -q -DskipTests package && scripts/bench-node.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
secs=${2:-20}
port=7600
http=7601
out=$(mktemp -d)
server_pid=
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; fi; }
trap stop_server EXIT

start_server() {
  rm -rf "$out/data"
  bin/ferry server --port $port --http-port $http --data-dir "$out/data" > "$out/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do grep -q ready "$out/server.log" && return 0; sleep 0.2; done
  echo "server did not start:"; cat "$out/server.log"; exit 1
}

scenario() { # name, bench args...
  local name=$1; shift
  for r in $(seq 1 "$runs"); do
    start_server
    bin/ferry bench --host 127.0.0.1:$port --json --duration "$secs" --warmup 20 --inflight 64 --value-size 100 "$@" \
      2> "$out/$name-$r.progress" | tee -a "$out/$name.json"
    curl -s "127.0.0.1:$http/metrics" | grep -E '^ferry_(group_commit_batch|wal_sync_seconds)_(count|sum)' > "$out/$name-$r.metrics" || true
    stop_server
  done
  python3 - "$out/$name.json" "$name" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ops = sorted(r["ops_per_s"] for r in runs)
kind = "reads" if runs[0]["reads"]["ops"] > runs[0]["writes"]["ops"] else "writes"
p99 = sorted(r[kind]["p99_ms"] for r in runs)
print(f"MEDIAN {sys.argv[2]}: {statistics.median(ops):,.0f} ops/s over {len(ops)} runs {[round(o) for o in ops]}; "
      f"{kind} p99 median {statistics.median(p99)} ms")
PY
}

scenario async-put --read-ratio 0 --durability ASYNC
scenario get --read-ratio 1 --preload --keys 100000
scenario sync-put --read-ratio 0 --durability SYNC
for f in "$out"/sync-put-*.metrics; do echo "$f:"; cat "$f"; done
echo "raw results in $out"
