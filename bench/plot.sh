#!/usr/bin/env bash
# plot.sh RESULTS_DIR [PNG] — tables of medians (stdout) and the plot (default
# docs/bench-hubs.png) from a bench/run.sh results directory. Installs matplotlib into a
# virtual environment ($BENCH_VENV, default ~/.cache/tidings-bench-venv) on first use.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
RESULTS=${1:?usage: plot.sh RESULTS_DIR [PNG]}
PNG=${2:-$BENCH_DIR/../docs/bench-hubs.png}
VENV=${BENCH_VENV:-$HOME/.cache/tidings-bench-venv}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet 'matplotlib>=3.8,<4'
fi
"$VENV/bin/python" "$BENCH_DIR/report.py" "$RESULTS" --plot "$PNG"
