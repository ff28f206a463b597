#!/usr/bin/env python3
"""Turn a results directory of bench/run.sh into tables of medians and the plot.

    python3 bench/report.py bench/results/<stamp>            # Markdown tables on stdout
    python3 bench/report.py bench/results/<stamp> --plot docs/bench-hubs.png

Every figure is the median over the repetitions of a hub and scenario (runs.tsv lists them,
with the load average before each). The plot needs matplotlib; `bench/plot.sh` installs it in a
virtual environment first.
"""

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

HUBS = ["tidings", "nchan", "pushpin"]


def load(results):
    runs = []
    with open(results / "runs.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            path = results / f"{row['name']}.json"
            try:
                row["summary"] = json.loads(path.read_text())
            except (OSError, ValueError):
                row["summary"] = None
            runs.append(row)
    return runs


def figures(summary):
    """The numbers a table shows, from one run's JSON summary."""
    d, lat = summary["deliveries"], summary["latency_us"]
    server = summary.get("server") or {}
    return {
        "received": d["received"],
        "expected": d["expected"],
        "lost": d["lost"],
        "out_of_order": d["out_of_order"],
        "per_s": d["per_s"],
        "p50": lat["p50"],
        "p90": lat["p90"],
        "p99": lat["p99"],
        "p999": lat["p999"],
        "us_per_delivery": server.get("cpu_ms_per_1000_deliveries", float("nan")),
        "rss_per_conn": server.get("rss_per_connection", float("nan")),
        "server_util": server.get("cpu_utilisation", float("nan")),
        "tool_util": summary["client_cpu_utilisation"],
        "publish_per_s": summary["publish"]["per_s"],
        "established": summary["connections"]["established"],
        "ended_by": summary["ended_by"],
    }


def medians(runs):
    """{(hub, scenario, connections): {figure: median, 'runs': n, 'loads': [...], ...}}"""
    groups = {}
    for run in runs:
        if run["summary"] is None:
            continue
        key = (run["hub"], run["scenario"], int(run["connections"]))
        groups.setdefault(key, []).append(run)
    out = {}
    for key, group in groups.items():
        rows = [figures(r["summary"]) for r in group]
        merged = {}
        for name in rows[0]:
            values = [r[name] for r in rows]
            if isinstance(values[0], str):
                merged[name] = ",".join(sorted(set(values)))
            else:
                merged[name] = statistics.median(values)
        merged["runs"] = len(rows)
        merged["lost_max"] = max(r["lost"] for r in rows)
        merged["loads"] = [r["loadavg_before"].split()[0] for r in group]
        out[key] = merged
    return out


def us(value):
    if value != value:  # NaN
        return "–"
    return f"{value / 1000:.1f} ms" if value >= 10_000 else f"{value:.0f} µs"


def table(med, scenario, title):
    keys = sorted((k for k in med if k[1] == scenario), key=lambda k: (k[2], HUBS.index(k[0])))
    if not keys:
        return ""
    lines = [
        f"**{title}**",
        "",
        "| hub | subscribers | deliveries/s | lost (median / worst) | out of order | p50 | p90 | p99 | p99.9 "
        "| server µs CPU per delivery | server RSS per connection | server CPU | load tool CPU | runs (load avg before) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in keys:
        m = med[key]
        lines.append(
            f"| {key[0]} | {key[2]:,} | {m['per_s']:,.0f} | {m['lost']:.0f} / {m['lost_max']:.0f} | {m['out_of_order']:.0f} "
            f"| {us(m['p50'])} | {us(m['p90'])} | {us(m['p99'])} | {us(m['p999'])} "
            f"| {m['us_per_delivery']:.3f} | {m['rss_per_conn'] / 1024:.1f} KiB "
            f"| {m['server_util'] * 100:.0f}% | {m['tool_util'] * 100:.0f}% "
            f"| {m['runs']} ({', '.join(m['loads'])}) |"
        )
    return "\n".join(lines) + "\n"


def ratios(med, scenario):
    """tidings' CPU per delivery against each peer's, same scenario."""
    key = lambda hub: next((k for k in med if k[0] == hub and k[1] == scenario), None)
    ours = key("tidings")
    if ours is None:
        return ""
    parts = []
    for peer in ("nchan", "pushpin"):
        theirs = key(peer)
        if theirs is None:
            continue
        a, b = med[ours]["us_per_delivery"], med[theirs]["us_per_delivery"]
        if a > 0 and b == b:
            parts.append(f"{peer} uses {b / a:.2f}x the CPU per delivery of tidings")
    return ("Scenario " + scenario + ": " + "; ".join(parts) + ".\n") if parts else ""


def plot(med, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    styles = {"tidings": ("tab:blue", "o"), "nchan": ("tab:green", "s"), "pushpin": ("tab:orange", "^")}
    for hub in HUBS:
        points = sorted((k[2], med[k]) for k in med if k[0] == hub and k[1] == "plot")
        if not points:
            continue
        xs = [n for n, _ in points]
        colour, marker = styles[hub]
        left.plot(xs, [m["per_s"] for _, m in points], marker=marker, color=colour, label=hub)
        right.plot(xs, [m["p99"] / 1000 for _, m in points], marker=marker, color=colour, label=hub)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("subscribers (one connection each)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    left.set_ylabel("deliveries per second")
    left.set_title("Throughput, publishing as fast as the hub takes it")
    right.set_yscale("log")
    right.set_ylabel("p99 publish-to-receive latency (ms)")
    right.set_title("p99 latency")
    fig.suptitle("Server pinned to one core, load tool on the other (bench/run.sh, bench/report.py)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--plot", type=Path, help="write the plot PNG here")
    args = parser.parse_args()
    runs = load(args.results)
    med = medians(runs)
    print((args.results / "machine.txt").read_text())
    for scenario, title in [
        ("1", "Scenario 1: fan-out, 1 000 subscribers, 2 000 events at 1 000/s"),
        ("2", "Scenario 2: 10 000 idle subscribers, then 100 events at 50/s"),
        ("3", "Scenario 3: throughput, 100 subscribers, 20 000 events, one publish request at a time"),
        ("3p", "Scenario 3p: the same, publish requests pipelined (up to 1 000 in flight)"),
        ("plot", "Plot points (publishing pipelined, except pushpin; 500 000 / N events, at most 20 000)"),
    ]:
        text = table(med, scenario, title)
        if text:
            print(text)
            if scenario != "plot":
                print(ratios(med, scenario))
    failed = [r["name"] for r in runs if r["summary"] is None or r["exit"] != "0"]
    if failed:
        print("Runs without a summary or with a non-zero exit: " + ", ".join(failed))
    if args.plot:
        plot(med, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
