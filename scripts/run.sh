#!/usr/bin/env bash
# make run: starts eird with the demo configuration (or EIRD_CONFIG's) and
# exits with eird's status: 0 after Ctrl-C or SIGTERM, non-zero when eird
# fails to start (a port in use, a bad configuration) or crashes.
#
# Redis: the address eird uses (EIR_* variables over the file, as eird reads
# them: `eird -print-addresses`). When it is one loopback address
# (127.0.0.0/8, ::1, localhost) in standalone mode and nothing answers there,
# a local redis-server is started on it (Debian's package installed if
# needed), append-only, with its data in EIRD_REDIS_DIR (.run/redis: manual
# entries and the audit trail survive a restart), and stopped after eird.
# Any other Redis that does not answer is an error: run.sh exits 1 without
# starting eird.
#
# The "in another terminal" hints are printed once eird's /readyz answers
# 200 (or, without an admin listener, once the Diameter port accepts).
#
# EIRD_BIN_DIR (bin) holds eird; EIRD_READY_TIMEOUT (60) bounds the wait,
# in seconds, before a warning.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${EIRD_CONFIG:-config/eird.yaml}
bin=${EIRD_BIN_DIR:-bin}
redis_dir=${EIRD_REDIS_DIR:-$PWD/.run/redis}
ready_timeout=${EIRD_READY_TIMEOUT:-60}

# The addresses eird will use; a bad or missing configuration stops here,
# with eird's message and status (2).
addresses=$("$bin/eird" -config "$config" -print-addresses) || exit $?
diameter="" diameter_transport="" admin="" n5g="" redis_mode="" redis_addrs=""
while read -r what a b; do
  case $what in
    diameter) diameter=$a diameter_transport=$b ;;
    admin) admin=$a ;;
    n5g) n5g=$a ;;
    redis) redis_mode=$a redis_addrs=$b ;;
  esac
done <<<"$addresses"

# host and port of host:port or [v6]:port.
host_of() { local h=${1%:*}; h=${h#[}; echo "${h%]}"; }
port_of() { echo "${1##*:}"; }

# accepts HOST PORT: a TCP connection to HOST:PORT succeeds within 2 s.
accepts() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

is_loopback() {
  case $1 in
    127.*|::1|localhost) return 0 ;;
  esac
  return 1
}

redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

start_redis() { # host port
  local host=$1 port=$2 bind=$1
  [ "$bind" = localhost ] && bind=127.0.0.1
  scripts/deps.sh redis-server
  mkdir -p "$redis_dir"
  echo "run: no Redis at $redis_addrs; starting redis-server there (append-only, data in $redis_dir, kept across runs; stopped after eird)"
  # Its own session: Ctrl-C reaches eird, and Redis is stopped after it.
  setsid redis-server --bind "$bind" --port "$port" --dir "$redis_dir" --save "" --appendonly yes \
    --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" &
  redis_pid=$!
  local deadline=$((SECONDS + 10))
  until accepts "$host" "$port"; do
    if ! kill -0 "$redis_pid" 2>/dev/null; then
      echo "run: redis-server failed to start; see $redis_dir/redis.log" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "run: redis-server did not answer on $redis_addrs within 10s; see $redis_dir/redis.log" >&2
      exit 1
    fi
    sleep 0.1
  done
}

any_redis_answers() {
  local a
  for a in $redis_addrs; do
    accepts "$(host_of "$a")" "$(port_of "$a")" && return 0
  done
  return 1
}

if any_redis_answers; then
  echo "run: using the Redis at $redis_addrs ($redis_mode)"
elif [ "$redis_mode" = standalone ] && is_loopback "$(host_of "$redis_addrs")"; then
  start_redis "$(host_of "$redis_addrs")" "$(port_of "$redis_addrs")"
else
  echo "run: Redis at $redis_addrs ($redis_mode) is not reachable; run.sh starts a local redis-server" \
    "only for one loopback address (127.0.0.0/8, ::1, localhost) in standalone mode: start that Redis," \
    "or set redis.addresses (EIR_REDIS_ADDRESSES) to a loopback address" >&2
  exit 1
fi

# readyz_status prints the status code of GET /readyz on the admin API.
readyz_status() {
  local scheme=${admin%%://*} hostport=${admin#*://}
  if [ "$scheme" = https ]; then
    curl -ks -o /dev/null -w '%{http_code}' --max-time 2 "$admin/readyz" 2>/dev/null || true
    return
  fi
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n" "$3" >&3
    read -r _ code _ <&3 && echo "$code"' _ "$(host_of "$hostport")" "$(port_of "$hostport")" "$hostport" 2>/dev/null || true
}

# is_ready: /readyz answers 200; without an admin listener (or curl for
# https), the Diameter port accepts.
is_ready() {
  if [ -n "$admin" ] && { [ "${admin%%://*}" = http ] || command -v curl >/dev/null; }; then
    [ "$(readyz_status)" = 200 ]
    return
  fi
  [ "$diameter_transport" = tcp ] && accepts "$(host_of "$diameter")" "$(port_of "$diameter")"
}

banner() {
  local eirbench="$bin/eirbench check" eirctl="$bin/eirctl"
  [ "$diameter" = 127.0.0.1:3868 ] || eirbench="$eirbench -addr $diameter"
  [ -z "$admin" ] || [ "$admin" = http://127.0.0.1:9468 ] || eirctl="$eirctl -server $admin"
  echo
  echo "  eird is ready: S13 Diameter on $diameter ($diameter_transport)${n5g:+, N5g-eir on $n5g (HTTP/2)}"
  [ -z "$admin" ] || echo "  admin API on $admin"
  [ "$config" != config/eird.yaml ] || echo "  The demo lists (demo/*.csv) are loaded when the store holds no list (bootstrap.files)."
  echo "  In another terminal:"
  echo
  echo "    $eirbench 35209900176148 49015420323751 26053179311383 12345678901234"
  echo "    $eirbench 352099001761481,001010000000001  # IMEI with an exception IMSI"
  if [ -n "$admin" ]; then
    echo "    $eirctl check 01001001123456  # a TAC rule"
    echo "    $eirctl datasets"
  fi
  if [ -n "$n5g" ]; then
    local h2=--http2-prior-knowledge
    [ "${n5g%%://*}" = http ] || h2=--http2
    echo "    curl $h2 '$n5g/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481'"
  fi
  echo
  echo "  Ctrl-C stops eird (it sends DPR to connected peers)${redis_pid:+, then the Redis run.sh started}."
  echo
}

# A listen address that already answers (another eird?) would make another
# process's /readyz pass for this eird's: eird is started anyway, to report
# the error with its status, but no hints are printed.
busy=""
for a in "$diameter" "${admin#*://}" "${n5g#*://}"; do
  a=${a%%/*}
  if [ -n "$a" ] && accepts "$(host_of "$a")" "$(port_of "$a")"; then
    echo "run: something already listens on $a (another eird?)" >&2
    busy=1
  fi
done

# From here on a command interrupted by Ctrl-C must not end the script:
# it waits for eird and exits with eird's status.
set +e
"$bin/eird" -config "$config" &
eird_pid=$!
# Ctrl-C reaches eird too (same process group); closing the terminal stops
# it as well (eird alone would take SIGHUP as a reload).
trap 'kill -TERM "$eird_pid" 2>/dev/null || true' INT TERM HUP

# Wait for readiness while eird runs; a failure to start ends the loop.
deadline=$((SECONDS + ready_timeout))
while [ -z "$busy" ] && kill -0 "$eird_pid" 2>/dev/null; do
  if is_ready; then
    banner
    break
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "run: eird is running but not ready after ${ready_timeout}s${admin:+ (GET $admin/readyz: $(readyz_status))}; see its log" >&2
    break
  fi
  sleep 0.1
done

# wait returns early when a trapped signal arrives: wait again until eird
# is gone, then exit with its status.
status=0
while :; do
  wait "$eird_pid"
  status=$?
  kill -0 "$eird_pid" 2>/dev/null || break
done
[ "$status" -eq 0 ] || echo "run: eird exited with status $status" >&2
exit "$status"
