#!/usr/bin/env bash
# hubs.sh start|stop HUB — start or stop one hub on loopback, pinned to CPU $SERVER_CPU.
#
#   tidings  target/release/tidings serve on 127.0.0.1:8080 with the JWT key $BENCH_JWT_KEY
#            and the extra flags in $TIDINGS_SERVE_ARGS (e.g. "--write-delay 5ms")
#   nchan    ../shared/peers/nchan.sh (nginx + nchan on 127.0.0.1:8081)
#   pushpin  ../shared/peers/pushpin.sh (pushpin on 127.0.0.1:7999, publish on :5561)
#
# `start` prints the server's pids on its last stdout line, for `tidings bench --pid`.
# Sourced by run.sh; also usable by hand.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
PEERS=${PEERS:-$REPO/../shared/peers}
SERVER_CPU=${SERVER_CPU:-0}
TIDINGS_BIN=${TIDINGS_BIN:-$REPO/target/release/tidings}
BENCH_JWT_KEY=${BENCH_JWT_KEY:-tidings-bench-secret-0123456789abcdef}
TIDINGS_PIDFILE=${TIDINGS_PIDFILE:-/tmp/tidings-bench-hub.pid}
export SERVER_CPU

wait_for_port() { # host port
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "hubs.sh: nothing listens on $1:$2" >&2
  return 1
}

hub_start() {
  case "$1" in
    tidings)
      ulimit -n "$(ulimit -Hn)"
      taskset -c "$SERVER_CPU" "$TIDINGS_BIN" serve --listen 127.0.0.1:8080 \
        --jwt-key "$BENCH_JWT_KEY" --log warn ${TIDINGS_SERVE_ARGS:-} >/tmp/tidings-bench-hub.log 2>&1 </dev/null &
      echo $! >"$TIDINGS_PIDFILE"
      wait_for_port 127.0.0.1 8080
      cat "$TIDINGS_PIDFILE"
      ;;
    nchan) "$PEERS/nchan.sh" start | tail -1 ;;
    pushpin) "$PEERS/pushpin.sh" start | tail -1 ;;
    *) echo "hubs.sh: unknown hub $1" >&2; return 2 ;;
  esac
}

hub_stop() {
  case "$1" in
    tidings)
      local pid
      pid=$(cat "$TIDINGS_PIDFILE" 2>/dev/null) || return 0
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        # Graceful shutdown tells streams to come back; give it a moment, then insist.
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
      fi
      rm -f "$TIDINGS_PIDFILE"
      ;;
    nchan) "$PEERS/nchan.sh" stop ;;
    pushpin) "$PEERS/pushpin.sh" stop ;;
    *) echo "hubs.sh: unknown hub $1" >&2; return 2 ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    start) hub_start "${2:?hub}" ;;
    stop) hub_stop "${2:?hub}" ;;
    *) echo "usage: $0 start|stop tidings|nchan|pushpin" >&2; exit 2 ;;
  esac
fi
