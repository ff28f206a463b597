#!/usr/bin/env bash
# run.sh — the side-by-side benchmark of docs/BENCHMARKS.md ("End to end").
#
# Each run starts a fresh hub pinned to CPU $SERVER_CPU (default 0), runs `tidings bench`
# pinned to CPU $BENCH_CPU (default 1) with the hub's pids, saves the JSON summary, and stops
# the hub. Hubs take turns within each repetition, so slow drifts in machine noise hit all of
# them alike. Results go to $OUT (default bench/results/<UTC time>/), with runs.tsv listing
# every run and the load average before it; bench/report.py turns a results directory into
# tables of medians and the plot.
#
#   bench/run.sh                        # everything: scenarios 1, 2, 3, 3p x3, plot points x1
#   SCENARIOS="1 3" HUBS=tidings bench/run.sh
#   SMOKE=1 bench/run.sh                # tiny sizes, checks the scripts in a minute
#
# Needs: a release build (cargo build --release -p tidings), taskset, and for the peers
# apt-get install nginx libnginx-mod-nchan pushpin.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hubs.sh
source "$BENCH_DIR/hubs.sh"

HUBS=${HUBS:-tidings nchan pushpin}
SCENARIOS=${SCENARIOS:-1 2 3 3p plot}
REPEATS=${REPEATS:-3}
PLOT_REPEATS=${PLOT_REPEATS:-1}
PLOT_COUNTS=${PLOT_COUNTS:-100 300 1000 3000 10000}
# Deliveries per plot point: events = PLOT_DELIVERIES / subscribers, at most 20 000.
PLOT_DELIVERIES=${PLOT_DELIVERIES:-500000}
# Publish requests in flight for scenario 3p and the plot (pipelined; pushpin gets 1, see below).
PIPELINE_WINDOW=${PIPELINE_WINDOW:-1000}
BENCH_CPU=${BENCH_CPU:-1}
SMOKE=${SMOKE:-0}
OUT=${OUT:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%MZ)}

mkdir -p "$OUT"
[ -x "$TIDINGS_BIN" ] || { echo "run.sh: build first: cargo build --release -p tidings" >&2; exit 2; }

# What the machine and the software were.
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
  echo "memory: $(free -m | awk '/Mem:/ {print $2}') MiB"
  echo "tidings: $("$TIDINGS_BIN" --version)"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*\///'), nchan: $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')"
  echo "pushpin: $(dpkg-query -W -f='${Version}' pushpin 2>/dev/null || echo '?'), condure: $(dpkg-query -W -f='${Version}' condure 2>/dev/null || echo '?')"
  echo "server cpu: $SERVER_CPU, load tool cpu: $BENCH_CPU, smoke: $SMOKE"
} >"$OUT/machine.txt"
[ -f "$OUT/runs.tsv" ] || printf 'name\thub\tscenario\tconnections\tevents\trate\trepeat\tloadavg_before\texit\n' >"$OUT/runs.tsv"

# scale N: a smaller N for smoke runs.
scale() { if [ "$SMOKE" = 1 ]; then echo $(( ($1 + 49) / 50 )); else echo "$1"; fi; }

# one NAME HUB SCENARIO REPEAT CONNECTIONS EVENTS RATE [extra bench flags...]
one() {
  local name=$1 hub=$2 scenario=$3 rep=$4 n=$5 m=$6 rate=$7
  shift 7
  local load pids status=0 rate_flag=()
  [ "$rate" = max ] || rate_flag=(--rate "$rate")
  local hub_flags=()
  # pushpin's publish API does not take pipelined requests (it answers the first and drops the
  # connection), so its publisher sends one at a time; and its subscribe path goes through the
  # Python GRIP backend, whose listen backlog is 5, so connects are made a few at a time.
  if [ "$hub" = pushpin ]; then
    hub_flags=(--publish-window 1 --connect-concurrency 4)
  elif [ "$scenario" = 3p ] || [ "$scenario" = plot ]; then
    hub_flags=(--publish-window "$PIPELINE_WINDOW")
  fi
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  pids=$(hub_start "$hub")
  taskset -c "$BENCH_CPU" "$TIDINGS_BIN" bench --preset "$hub" --jwt-key "$BENCH_JWT_KEY" \
    --pid "${pids// /,}" --json --quiet -n "$n" -m "$m" "${rate_flag[@]}" --data-size 100 \
    --timeout 30 "${hub_flags[@]}" "$@" >"$OUT/$name.json" 2>"$OUT/$name.err" || status=$?
  hub_stop "$hub" 2>/dev/null || true
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$hub" "$scenario" "$n" "$m" "$rate" \
    "$rep" "$load" "$status" >>"$OUT/runs.tsv"
  python3 - "$OUT/$name.json" "$name" "$load" <<'EOF' || echo "$name: no summary (see .err)" >&2
import json, sys
s = json.load(open(sys.argv[1]))
d, l, v = s["deliveries"], s["latency_us"], s.get("server") or {}
print(f"{sys.argv[2]:<24} load {sys.argv[3]:<15} {d['received']}/{d['expected']} lost {d['lost']} "
      f"{d['per_s']:>10.0f}/s p99 {l['p99']:>9.0f}us  {v.get('cpu_ms_per_1000_deliveries', 0):.3f} us/deliv "
      f"{v.get('rss_per_connection', 0):.0f} B/conn  server {v.get('cpu_utilisation', 0):.2f} tool {s['client_cpu_utilisation']:.2f} "
      f"[{s['ended_by']}]", file=sys.stderr)
EOF
  # Let sockets of the last run leave TIME_WAIT and the machine settle.
  sleep 1
}

trap 'for h in $HUBS; do hub_stop "$h" >/dev/null 2>&1 || true; done' EXIT

for scenario in $SCENARIOS; do
  case "$scenario" in
    1 | 2 | 3 | 3p)
      for rep in $(seq "$REPEATS"); do
        for hub in $HUBS; do
          # 3p is scenario 3 with pipelined publishing, which pushpin's publish API refuses.
          [ "$scenario" = 3p ] && [ "$hub" = pushpin ] && continue
          case "$scenario" in
            1) one "$hub-s1-r$rep" "$hub" 1 "$rep" "$(scale 1000)" "$(scale 2000)" 1000 \
                 --drain-timeout 30 --max-duration 120 ;;
            2) one "$hub-s2-r$rep" "$hub" 2 "$rep" "$(scale 10000)" 100 50 \
                 --settle 3 --connect-rate 2500 --drain-timeout 30 --max-duration 120 ;;
            3) one "$hub-s3-r$rep" "$hub" 3 "$rep" "$(scale 100)" "$(scale 20000)" max \
                 --drain-timeout 60 --max-duration 180 ;;
            3p) one "$hub-s3p-r$rep" "$hub" 3p "$rep" "$(scale 100)" "$(scale 20000)" max \
                 --drain-timeout 60 --max-duration 180 ;;
          esac
        done
      done
      ;;
    plot)
      for rep in $(seq "$PLOT_REPEATS"); do
        for n in $PLOT_COUNTS; do
          n=$(scale "$n")
          m=$(( PLOT_DELIVERIES / n ))
          [ "$m" -le 20000 ] || m=20000
          [ "$SMOKE" = 1 ] && m=$(( (m + 49) / 50 ))
          for hub in $HUBS; do
            one "$hub-plot-n$n-r$rep" "$hub" plot "$rep" "$n" "$m" max \
              --settle 2 --connect-rate 2500 --drain-timeout 60 --max-duration 180
          done
        done
      done
      ;;
    *) echo "run.sh: unknown scenario $scenario" >&2; exit 2 ;;
  esac
done
echo "results in $OUT" >&2
