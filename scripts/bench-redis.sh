#!/usr/bin/env bash
# redis-benchmark against FerryDB's Redis endpoint and against redis-server, started
# the same way in the same run, interleaved run by run so machine noise hits both:
#   single: one FerryDB node (redis namespace ASYNC) vs redis-server without AOF,
#           SET and GET with -P 1 and -P 16;
#   pair:   2 FerryDB nodes, RF 2, commit level ALL vs a Redis primary with one replica,
#           SET with -P 1 against node 1 / the primary.
# 50 clients, 100-byte values, 100,000 random keys. Prints every run and the medians and
# ratios (FerryDB / Redis) per scenario.
#
#   mvn -B -ntp -q -DskipTests package && scripts/bench-redis.sh [RUNS] [REQUESTS] [single|pair|all]
# (the pair runs REQUESTS/2, or PAIR_REQUESTS, after a warm-up of 2 x REQUESTS SETs)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
requests=${2:-200000}
which=${3:-all}
# Mirrored SETs run at about a third of the single-node rate here: half the requests keeps a run near 10 s.
pair_requests=${PAIR_REQUESTS:-$((requests / 2))}
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
command -v redis-benchmark >/dev/null && command -v redis-server >/dev/null || { echo "needs redis-tools and redis-server (apt-get install redis-tools redis-server)"; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

await_line() { # file, pattern
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done
  echo "timed out waiting for '$2' in $1:"; tail -20 "$1"; exit 1
}

# bench NAME PORT PIPELINE TESTS -> appends "NAME TEST rps" lines to $out/results
bench() {
  local name=$1 port=$2 pipeline=$3 tests=$4
  redis-benchmark -h 127.0.0.1 -p "$port" -t "$tests" -n "$requests" -r 100000 -c 50 -d 100 -P "$pipeline" -q 2>&1 \
    | tr '\r' '\n' | grep 'requests per second' | sed -E 's/^([A-Z]+): ([0-9.]+) requests per second.*/\1 \2/' \
    | while read -r test rps; do echo "$name P$pipeline $test $rps" | tee -a "$out/results"; done
}

single() {
  local rport fport
  rport=$(free_port)
  mkdir -p "$out/r0"
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$out/r0" --save '' --appendonly no --daemonize no > "$out/redis.log" 2>&1 &
  pids+=($!)
  fport=$(free_port)
  bin/ferry server --data-dir "$out/ferry1" --port "$(free_port)" --http-port "$(free_port)" --control-port "$(free_port)" \
    --redis-port "$fport" > "$out/ferry1.out" 2> "$out/ferry1.log" &
  pids+=($!)
  await_line "$out/ferry1.out" ready
  await_line "$out/redis.log" "Ready to accept"
  echo "single node: FerryDB redis port $fport, redis-server $rport; warming up FerryDB's JIT..."
  redis-benchmark -h 127.0.0.1 -p "$fport" -t set,get -n "$requests" -r 100000 -c 50 -d 100 -P 16 -q > /dev/null 2>&1
  redis-benchmark -h 127.0.0.1 -p "$fport" -t set,get -n "$requests" -r 100000 -c 50 -d 100 -q > /dev/null 2>&1
  for r in $(seq 1 "$runs"); do
    for p in 1 16; do
      bench redis-single "$rport" "$p" set,get
      bench ferry-single "$fport" "$p" set,get
    done
  done
  cleanup; pids=()
}

pair() {
  local r1 r2 base
  r1=$(free_port); r2=$(free_port)
  mkdir -p "$out/r1" "$out/r2"   # a full sync writes an RDB file into --dir
  redis-server --port "$r1" --bind 127.0.0.1 --dir "$out/r1" --save '' --appendonly no > "$out/redis-primary.log" 2>&1 &
  pids+=($!)
  redis-server --port "$r2" --bind 127.0.0.1 --dir "$out/r2" --save '' --appendonly no --replicaof 127.0.0.1 "$r1" \
    > "$out/redis-replica.log" 2>&1 &
  pids+=($!)
  base=7800
  bin/ferry cluster start-local --nodes 2 --base-dir "$out/pair" --base-port "$base" --json > "$out/pair.json"
  pids+=($(python3 -c 'import json,sys; print(" ".join(str(n["pid"]) for n in json.load(open(sys.argv[1]))["nodes"]))' "$out/pair.json"))
  await_line "$out/redis-replica.log" "MASTER <-> REPLICA sync: Finished"
  local fport=$((base + 3))
  echo "pair: FerryDB node 1 redis port $fport (RF 2, commit ALL, ASYNC); Redis primary $r1 with replica $r2; waiting until every replica is in sync..."
  for _ in $(seq 1 240); do
    bin/ferry cluster status --host "127.0.0.1:$base" --json 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin)
sys.exit(0 if all(n["replicas_not_in_sync"] == 0 and n["migrations_pending"] == 0 for n in d["namespaces"]) else 1)' && break
    sleep 0.5
  done
  # Warm-up (JIT) on both FerryDB nodes: 20,000 SETs left the forwarding and mirroring
  # paths half-compiled and measured them at a third of their speed, and after REQUESTS
  # the runs were still rising (~35 s of JIT time in the first 300,000 SETs).
  echo "warming up FerryDB's JIT..."
  redis-benchmark -h 127.0.0.1 -p "$fport" -t set -n "$((requests * 2))" -r 100000 -c 50 -d 100 -q > /dev/null 2>&1
  for r in $(seq 1 "$runs"); do
    requests=$pair_requests bench redis-pair "$r1" 1 set
    requests=$pair_requests bench ferry-pair "$fport" 1 set
  done
  redis-cli -p "$fport" info replication | tr -d '\r' | grep -E 'connected_slaves|slave0|master_repl_offset' | tee -a "$out/results"
  cleanup; pids=()
}

case "$which" in
  single) single ;;
  pair) pair ;;
  all) single; pair ;;
esac

python3 - "$out/results" <<'PY'
import statistics, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 4:
        runs[(parts[0], parts[1], parts[2])].append(float(parts[3]))
print("\nscenario                   Redis median    FerryDB median   ratio   (runs: Redis | FerryDB)")
for (name, p, test), ferry in sorted(runs.items()):
    if not name.startswith("ferry"):
        continue
    redis = runs.get((name.replace("ferry", "redis"), p, test), [])
    if not redis:
        continue
    rm, fm = statistics.median(redis), statistics.median(ferry)
    print(f"{name[6:]:7} {p:4} {test:4}       {rm:>12,.0f}    {fm:>12,.0f}   {fm / rm:5.2f}   "
          f"({' / '.join(f'{x:,.0f}' for x in redis)} | {' / '.join(f'{x:,.0f}' for x in ferry)})")
PY
echo "raw results in $out"
