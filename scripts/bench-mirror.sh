#!/usr/bin/env bash
# Mirrored write throughput (issue 4): RF 2 with commit level ALL against RF 1, in the
# same run, round by round so machine noise hits all of them. A round starts three
# clusters in turn with `ferry cluster start-local`:
#   1n-rf1: one node (RF 1), which has the machine's cores to itself;
#   2n-rf1: two nodes, the namespace at RF 1 (each node masters half the partitions);
#   2n-rf2: the same two nodes at RF 2 (each write mirrored to the other node).
# 2n-rf2 / 2n-rf1 is the cost of mirroring alone (same processes, same client routing);
# 2n-rf2 / 1n-rf1 also pays for a second JVM on the same cores. Each cluster is warmed
# with WARMUPS unmeasured runs (JIT on a small machine takes that long), then ASYNC and
# SYNC puts are measured; 100-byte values, 64 requests in flight, reads off. Prints
# every run and, per scenario, the medians and both ratios.
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

start_cluster() { # nodes replication-factor
  rm -rf "$out/c"
  local started
  started=$(bin/ferry cluster start-local --nodes "$1" --replication-factor "$2" --base-dir "$out/c" --base-port $port)
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
  for cluster in 1n-rf1 2n-rf1 2n-rf2; do
    start_cluster "${cluster:0:1}" "${cluster:5:1}"
    for _ in $(seq 1 "$warmups"); do bench ALL ASYNC "$secs" > /dev/null; done
    for d in ASYNC SYNC; do
      ops=$(bench ALL $d "$secs")
      echo "round $r  $cluster  ALL+$d  $ops ops/s"
      results["$cluster-$d"]+="$ops "
    done
    kill $pids; sleep 2; pids=
  done
done

median() { python3 -c 'import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:])))' $1; }
for d in ASYNC SYNC; do
  single=$(median "${results[1n-rf1-$d]}"); one=$(median "${results[2n-rf1-$d]}"); two=$(median "${results[2n-rf2-$d]}")
  echo "ALL+$d medians: 1n-rf1 $single, 2n-rf1 $one, 2n-rf2 $two ops/s;" \
    "RF 2 / RF 1 on the same 2 nodes $(python3 -c "print(round($two / $one, 2))"), RF 2 / one node $(python3 -c "print(round($two / $single, 2))")"
done
