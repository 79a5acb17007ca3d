"""The performance goals (issue J) against what the benchmarks measured: bench/results/goals.json and a
table to paste in docs/performance.md. Reads the other benchmarks' results; measures nothing itself.

Each figure is a ratio to a baseline measured in the same run (or, for CPU per record, an absolute
figure beside its baseline), with the machine and the date of the run it comes from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common import RESULTS, write_results


@dataclass(frozen=True)
class Goal:
    figure: str
    source: str                       # bench/results/<source>.json
    goal: float
    higher_is_better: bool
    unit: str
    measure: Callable[[dict], tuple[float, str]]  # results -> (measured, its baseline in words)

    def met(self, measured: float) -> bool:
        return measured >= self.goal if self.higher_is_better else measured <= self.goal


def _parse_map(kind: str) -> Callable[[dict], tuple[float, str]]:
    def measure(result: dict) -> tuple[float, str]:
        row = next(r for r in result["results"] if r["format"] == kind)
        ours, bare = row["parse_map"]["rows_per_s"], row["bare_loop"]["rows_per_s"]
        return row["parse_map_vs_bare"], f"{ours:,} records/s vs {bare:,}/s"
    return measure


def _cpu_per_record(result: dict) -> tuple[float, str]:
    base = result["cpu_bound_baseline"]
    return base["cpu_us_per_record"], (f"{base['records_per_s']:,} records/s wall on one invocation's threads "
                                       f"(Batch {base['batch_size']:,} × {base['concurrency']}, vendor at 0 ms)")


def _of_ceiling(vendor: str, batch_size: int, concurrency: int) -> Callable[[dict], tuple[float, str]]:
    def measure(result: dict) -> tuple[float, str]:
        row = next(r for r in result["scenarios"] if (r["vendor"], r["batch_size"], r["concurrency"])
                   == (vendor, batch_size, concurrency))
        return row["of_ceiling"], f"{row['records_per_s']:,} records/s vs ceiling {row['ceiling_per_s']:,}/s"
    return measure


def _cold_start(result: dict) -> tuple[float, str]:
    handlers = [r for r in result["results"] if r["kind"] == "handler"]
    worst = max(handlers, key=lambda r: r["vs_boto3"])
    boto3 = next(r for r in result["results"] if r["name"] == "import boto3")
    return worst["vs_boto3"], f"slowest handler ({worst['name']}) {worst['import_ms']:.0f} ms vs {boto3['import_ms']:.0f} ms"


GOALS = [
    Goal("JSON Lines → vendor bodies vs `json.loads` + `json.dumps` loop", "parse_map", 0.8, True, "×",
         _parse_map("jsonl")),
    Goal("CSV → vendor bodies vs `csv.reader` + `json.dumps` loop", "parse_map", 0.5, True, "×", _parse_map("csv")),
    Goal("deliver function CPU per record (vendor answering at once)", "throughput", 20, False, "µs",
         _cpu_per_record),
    Goal("throughput vs ceiling at 50 ms, Batch 100 × 4", "throughput", 0.9, True, "×", _of_ceiling("batch", 100, 4)),
    Goal("throughput vs ceiling at 50 ms, CleverTap 100 × 3", "throughput", 0.9, True, "×",
         _of_ceiling("clevertap", 100, 3)),
    Goal("handler import vs `import boto3` (slowest handler)", "cold_start", 1.5, False, "×", _cold_start),
]
# Reported beside the goals, with what limits them (docs/performance.md): no goal of their own.
REPORTED = [
    ("throughput vs ceiling at 50 ms, Batch 1,000 × 4", "throughput", _of_ceiling("batch", 1000, 4)),
    ("throughput vs ceiling at 50 ms, Batch 10,000 × 2", "throughput", _of_ceiling("batch", 10000, 2)),
]


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _row(figure: str, source: str, measure, goal: Goal | None) -> dict[str, Any] | None:
    result = load(source)
    if result is None:
        return None
    try:
        measured, baseline = measure(result)
    except (KeyError, StopIteration):  # results of an older benchmark without this figure
        return None
    row = {"figure": figure, "measured": measured, "baseline": baseline, "source": f"bench/results/{source}.json",
           "date": result["date"][:10], "machine": result["machine"], "quick": result.get("quick", False)}
    if goal is not None:
        row.update(goal=goal.goal, unit=goal.unit, higher_is_better=goal.higher_is_better, met=goal.met(measured))
    return row


def main() -> None:
    goals = [row for g in GOALS if (row := _row(g.figure, g.source, g.measure, g)) is not None]
    reported = [row for figure, source, measure in REPORTED if (row := _row(figure, source, measure, None))]
    write_results("goals", {"goals": goals, "reported": reported})
    print("| figure | measured | goal | met | baseline (same run) | run |\n|---|---|---|---|---|---|")
    for row in goals + reported:
        unit = row.get("unit", "×")
        goal = f"{'≥' if row.get('higher_is_better') else '≤'} {row['goal']:g}{unit}" if "goal" in row else "—"
        met = ("yes" if row["met"] else "**no**") if "met" in row else "—"
        print(f"| {row['figure']} | {row['measured']:g}{unit} | {goal} | {met} | {row['baseline']} | {row['date']} |")


if __name__ == "__main__":
    main()
