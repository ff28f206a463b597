#!/usr/bin/env bash
# profile.sh HUB [bench flags...] — where a hub's CPU goes under load: starts HUB pinned to
# CPU $SERVER_CPU, runs `tidings bench` with the given flags on CPU $BENCH_CPU, samples the
# hub's processes with `perf record -e cpu-clock` while events flow, and prints the top
# symbols (kernel included: on loopback the receiver's TCP work runs in the sender's system
# calls). The perf data stays in $OUT (default /tmp/tidings-profile-HUB).
#
#   bench/profile.sh tidings -n 1000 -m 6000 --rate 3000
#   bench/profile.sh nchan -n 100 -m 40000
#
# Needs perf (apt-get install linux-perf).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hubs.sh
source "$BENCH_DIR/hubs.sh"

HUB=${1:?usage: profile.sh HUB [bench flags...]}
shift
BENCH_CPU=${BENCH_CPU:-1}
OUT=${OUT:-/tmp/tidings-profile-$HUB}
SETTLE=${SETTLE:-2}
SECONDS_TO_SAMPLE=${SAMPLE:-3}
mkdir -p "$OUT"

trap 'hub_stop "$HUB" >/dev/null 2>&1 || true' EXIT
pids=$(hub_start "$HUB")
taskset -c "$BENCH_CPU" "$TIDINGS_BIN" bench --preset "$HUB" --jwt-key "$BENCH_JWT_KEY" \
  --pid "${pids// /,}" --settle "$SETTLE" --quiet "$@" >"$OUT/summary.txt" 2>&1 &
bench=$!
# Sample once the connections are open and publishing has started.
sleep "$((SETTLE + 1))"
perf record -e cpu-clock -F 4000 -p "${pids// /,}" -o "$OUT/perf.data" -- sleep "$SECONDS_TO_SAMPLE" \
  >/dev/null 2>&1 || echo "profile.sh: perf record failed" >&2
wait "$bench" || true
cat "$OUT/summary.txt"
echo
perf report -i "$OUT/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 0.7 2>/dev/null |
  grep -v '^#' | grep -v '^$' | head -60
