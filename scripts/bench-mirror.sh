#!/usr/bin/env bash
# Mirrored write throughput (issue 4): RF 2 with commit level ALL against RF 1, in the
# same run, round by round so machine noise hits both. A round starts a cluster with
# `ferry cluster start-local` (1 node: RF 1; 2 nodes: the namespace's RF 2, the second
# node joining the first), warms it with WARMUPS unmeasured runs (JIT on a small
# machine takes that long), then measures ASYNC and SYNC puts; 100-byte values, 64
# requests in flight, reads off. Prints every run and, per scenario, the median ops/s
# and the RF 2 / RF 1 ratios.
#
#   mvn -B -ntp -q -DskipTests package && scripts/bench-mirror.sh [ROUNDS] [SECONDS] [WARMUPS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
warmups=${3:-3}
port=7800
out=$(mktemp -d)
pids=
cleanup() { [ -n "$pids" ] && kill $pids 2>/dev/null || true; sleep 1; }
trap cleanup EXIT

start_cluster() { # nodes
  rm -rf "$out/c"
  local started
  started=$(bin/ferry cluster start-local --nodes "$1" --base-dir "$out/c" --base-port $port)
  pids=$(echo "$started" | awk '$2 == "pid" {print $3}' | tr '\n' ' ')
  for _ in $(seq 1 120); do
    local st
    st=$(bin/ferry cluster status --host 127.0.0.1:$port 2>/dev/null || true)
    if [ "$(echo "$st" | grep -c 'replicas not IN_SYNC 0 ')" -ge 1 ] && ! echo "$st" | grep 'namespace' | grep -vq 'replicas not IN_SYNC 0 '; then
      return 0
    fi
    sleep 1
  done
  echo "cluster of $1 did not settle"; exit 1
}

bench() { # commit level, durability, seconds
  bin/ferry bench --host 127.0.0.1:$port --commit-level "$1" --durability "$2" --duration "$3" --warmup 2 \
    --value-size 100 --read-ratio 0 --json 2>/dev/null | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["ops_per_s"])'
}

declare -A results
for r in $(seq 1 "$rounds"); do
  for nodes in 1 2; do
    start_cluster $nodes
    for _ in $(seq 1 "$warmups"); do bench ALL ASYNC "$secs" > /dev/null; done
    for d in ASYNC SYNC; do
      ops=$(bench ALL $d "$secs")
      echo "round $r  rf=$nodes  ALL+$d  $ops ops/s"
      results["$nodes-$d"]+="$ops "
    done
    kill $pids; sleep 2; pids=
  done
done

median() { python3 -c 'import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:])))' $1; }
for d in ASYNC SYNC; do
  one=$(median "${results[1-$d]}"); two=$(median "${results[2-$d]}")
  echo "ALL+$d median: RF 1 $one ops/s, RF 2 $two ops/s, ratio $(python3 -c "print(round($two / $one, 2))")"
done
