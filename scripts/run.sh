#!/usr/bin/env bash
# make run: starts eird with the demo configuration. When no Redis answers at
# the configured address, starts a local redis-server there (installing
# Debian's package if needed) and stops it when eird exits.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${EIRD_CONFIG:-config/eird.yaml}
addr=${EIR_REDIS_ADDRESSES:-127.0.0.1:6379}
host=${addr%:*}
port=${addr##*:}

reachable() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if reachable; then
  echo "run: using the Redis at $addr"
else
  scripts/deps.sh redis-server
  mkdir -p .run/redis
  echo "run: no Redis at $addr; starting redis-server there (data in .run/redis, kept across runs; stopped with eird)"
  redis-server --bind "$host" --port "$port" --dir "$PWD/.run/redis" --save "" --appendonly yes \
    --logfile "$PWD/.run/redis/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 100); do
    reachable && break
    if ! kill -0 "$redis_pid" 2>/dev/null; then
      echo "run: redis-server failed to start; see .run/redis/redis.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  reachable || { echo "run: redis-server did not answer on $addr" >&2; exit 1; }
fi

cat <<MSG

  eird: S13 Diameter on 127.0.0.1:3868, N5g-eir on http://127.0.0.1:7777 (HTTP/2),
  admin API on http://127.0.0.1:9468
  Demo lists (demo/*.csv) are loaded into an empty store. In another terminal:

    bin/eirbench check 35209900176148 49015420323751 26053179311383 12345678901234
    bin/eirbench check 352099001761481,001010000000001     # IMEI with an exception IMSI
    bin/eirctl check 01001001123456                          # a TAC rule
    bin/eirctl datasets
    curl --http2-prior-knowledge 'http://127.0.0.1:7777/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481'

  Ctrl-C stops eird (it sends DPR to connected peers).

MSG
bin/eird -config "$config" &
eird_pid=$!
trap 'kill -TERM $eird_pid 2>/dev/null || true' INT TERM
wait $eird_pid || true
wait $eird_pid 2>/dev/null || true
