"""Draws bench/results/*.json as PNGs beside them (docs/performance.md shows them). Each figure names the
machine and the date of its run."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from common import RESULTS  # noqa: E402

BASELINE, OURS, GOAL = "#9e9e9e", "#1f77b4", "#2ca02c"


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def footer(figure, result: dict) -> None:
    m = result["machine"]
    figure.text(0.01, 0.01, f"{m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB, Python {m['python']} — "
                            f"{result['date'][:10]}" + (" (quick run)" if result.get("quick") else ""),
                fontsize=7, color="#555555")


def save(figure, name: str) -> None:
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    path = RESULTS / f"{name}.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"drew {path.relative_to(RESULTS.parent.parent)}")


def cold_start(result: dict) -> None:
    rows = [r for r in result["results"] if r["import_ms"] >= 1]  # "python (no import)" is the process's, not an import
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    names = [r["name"] for r in rows][::-1]
    values = [r["import_ms"] for r in rows][::-1]
    colors = [BASELINE if r["kind"] == "baseline" else OURS for r in rows][::-1]
    bars = axes.barh(names, values, color=colors)
    for bar, row in zip(bars, rows[::-1]):
        label = f"{row['import_ms']:.0f} ms" + (f"  ({row['vs_boto3']:.1f}× boto3)" if row["kind"] == "handler" else "")
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + label, va="center", fontsize=8)
    axes.set_xlabel("import time in a fresh interpreter, median (ms)")
    axes.set_title("Cold start: each handler's import vs import boto3 (grey: baselines)")
    axes.set_xlim(0, max(values) * 1.45)
    footer(figure, result)
    save(figure, "cold_start")


def http_calls(result: dict) -> None:
    rows = result["results"]
    figure, axes = plt.subplots(figsize=(9, 4.4))
    x = range(len(rows))
    bars = [("minimum", "minimum for the records: ceil(users / limit)", BASELINE),
            ("minimum_for_invocations", "minimum for the Lambda invocations that carried them", "#c6dbef"),
            ("calls", "calls made", OURS)]
    width = 0.27
    for b, (key, label, color) in enumerate(bars):
        axes.bar([i + (b - 1) * width for i in x], [r[key] for r in rows], width, color=color, label=label)
    for i, row in zip(x, rows):
        axes.text(i + width, row["calls"], f"{row['vs_minimum_for_invocations']:.2f}×", ha="center", va="bottom",
                  fontsize=8)
    axes.set_xticks(list(x), [textwrap.fill(r["scenario"], 20) for r in rows], fontsize=7)
    axes.set_yscale("log")
    axes.set_ylabel("vendor calls (log)")
    axes.set_title(f"HTTP calls for {result['users']:,} users: made vs minimum (label: made / invocations' minimum)",
                   fontsize=10)
    axes.legend(fontsize=7)
    footer(figure, result)
    save(figure, "http_calls")


def throughput(result: dict) -> None:
    rows = result["scenarios"]
    figure, axes = plt.subplots(figsize=(9, 4.6))
    x = range(len(rows))
    axes.bar([i - 0.2 for i in x], [r["ceiling_per_s"] for r in rows], 0.4, color=BASELINE,
             label=f"ceiling: concurrency × batch / {result['latency_ms']} ms")
    axes.bar([i + 0.2 for i in x], [r["records_per_s"] for r in rows], 0.4, color=OURS, label="achieved")
    axes.scatter([i - 0.2 for i in x], [r["ceiling_per_s"] * result["goal"] for r in rows], marker="_", s=300,
                 color=GOAL, label=f"goal: {result['goal']}× ceiling", zorder=3)
    for i, row in zip(x, rows):
        axes.text(i + 0.2, row["records_per_s"], f"{row['of_ceiling']:.2f}×", ha="center", va="bottom", fontsize=8)
    cpu = result["cpu_bound_baseline"]["records_per_s"]
    axes.axhline(cpu, color="#d62728", linestyle="--", linewidth=1, label=f"CPU-bound (0 ms vendor): {cpu:,}/s")
    axes.set_xticks(list(x), [f"{r['vendor']}\n{r['batch_size']} × {r['concurrency']}" for r in rows], fontsize=8)
    axes.set_yscale("log")
    axes.set_ylabel("records / s (log)")
    axes.set_title("Deliver function end to end, vendor at 50 ms: achieved vs ceiling (batch size × concurrency)")
    axes.legend(fontsize=7, loc="upper left")
    footer(figure, result)
    save(figure, "throughput")


def parse_map(result: dict) -> None:
    rows = result["results"]
    figure, axes = plt.subplots(figsize=(8, 4))
    stages = [("bare_loop", "bare loop (csv.reader / json.loads)", BASELINE), ("parse", "usersync parse", "#6baed6"),
              ("parse_map", "usersync parse + map", OURS)]
    width = 0.8 / len(stages)
    for s, (key, label, color) in enumerate(stages):
        positions = [i + (s - 1) * width for i in range(len(rows))]
        values = [r[key]["rows_per_s"] for r in rows]
        axes.bar(positions, values, width, color=color, label=label)
        for p, v in zip(positions, values):
            axes.text(p, v, f"{v / 1000:,.0f}k", ha="center", va="bottom", fontsize=7)
    axes.set_xticks(range(len(rows)), [f"{r['format'].upper()}, {result['rows']:,} rows ({r['file_mib']} MiB)" for r in rows])
    axes.set_yscale("log")
    axes.set_ylabel("rows / s (log)")
    axes.set_title("Parse + map throughput vs a bare loop")
    axes.legend(fontsize=8)
    footer(figure, result)
    save(figure, "parse_map")


def memory(result: dict) -> None:
    rows = result["results"]
    figure, axes = plt.subplots(figsize=(8, 4))
    sizes = [r["file_mib"] for r in rows]
    styles = {"read whole file (baseline)": (BASELINE, "--"), "interpreter and imports": ("#bdbdbd", ":"),
              "file function: planning pass": (OURS, "-"), "chunk function: one chunk": ("#ff7f0e", "-")}
    for name, (color, style) in styles.items():
        axes.plot(sizes, [r[name] for r in rows], style, marker="o", color=color, label=name)
    axes.set_xlabel("CSV file size (MiB)")
    axes.set_ylabel("peak RSS (MiB)")
    axes.set_title("Peak memory against file size")
    axes.legend(fontsize=8)
    footer(figure, result)
    save(figure, "memory")


def goals(result: dict) -> None:
    """Each goal's figure as a share of its goal (1 = met; a "≤" goal is drawn as goal / measured)."""
    rows = result["goals"]
    figure, axes = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.4))
    shares = [r["measured"] / r["goal"] if r["higher_is_better"] else r["goal"] / r["measured"] for r in rows][::-1]
    names = [textwrap.fill(r["figure"].replace("`", ""), 48) for r in rows][::-1]
    bars = axes.barh(names, shares, color=[OURS if share >= 1 else "#d62728" for share in shares])
    for bar, row in zip(bars, rows[::-1]):
        sign = "≥" if row["higher_is_better"] else "≤"
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                  f" {row['measured']:g}{row['unit']} (goal {sign} {row['goal']:g}{row['unit']}, {row['date']})",
                  va="center", fontsize=7)
    axes.axvline(1, color=GOAL, linewidth=1.5, label="goal")
    axes.set_xlim(0, max(max(shares), 1) * 1.7)
    axes.set_xlabel("share of the goal (1 = met; red: missed)")
    axes.tick_params(axis="y", labelsize=7)
    axes.set_title("Issue J's goals: each figure against its same-run baseline", fontsize=10)
    footer(figure, result)
    save(figure, "goals")


def main() -> None:
    for name, draw in (("cold_start", cold_start), ("http_calls", http_calls), ("throughput", throughput),
                       ("parse_map", parse_map), ("memory", memory), ("goals", goals)):
        result = load(name)
        if result is None:
            print(f"no bench/results/{name}.json: run bench/{name}.py first")
            continue
        draw(result)


if __name__ == "__main__":
    main()
