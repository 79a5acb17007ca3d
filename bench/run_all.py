"""`make bench`: every benchmark, one after the other (each in its own process), then the plots.

    .venv/bin/python bench/run_all.py            # the figures docs/performance.md shows (a few minutes)
    BENCH_QUICK=1 .venv/bin/python bench/run_all.py   # smaller inputs, to check the scripts

bench/ingest.py (S3 file ingestion through the whole local pipeline) runs here too when present, on
a 32 MB file so that everything fits in 10 minutes on a 2-core machine; its results go to
bench/results/ingest-make-bench.json, leaving bench/results/ingest.json to its full-size run
(1 GB: `.venv/bin/python bench/ingest.py`, about an hour here).
The time each took is written to bench/results/run_all.json.
"""

from __future__ import annotations

import subprocess
import sys
import time

from common import BENCH_DIR, QUICK, write_results

SCRIPTS = ["cold_start.py", "http_calls.py", "throughput.py", "parse_map.py", "memory.py", "ingest.py",
           "goals.py"]  # goals.py last: it collects the figures the others measured
INGEST_ARGS = ["--size-mb", "32", "--small-mb", "8", "--sample-mb", "16"]
INGEST_RESULTS = BENCH_DIR / "results" / "ingest.json"


def run_ingest(path) -> int:
    """bench/ingest.py at a size that fits, without overwriting its full-size results."""
    full = INGEST_RESULTS.read_bytes() if INGEST_RESULTS.exists() else None
    try:
        code = subprocess.call([sys.executable, str(path), *INGEST_ARGS], cwd=BENCH_DIR.parent)
        if INGEST_RESULTS.exists():
            INGEST_RESULTS.replace(INGEST_RESULTS.with_name("ingest-make-bench.json"))
    finally:
        if full is not None:
            INGEST_RESULTS.write_bytes(full)
    return code


def main() -> int:
    durations, failed = {}, []
    started = time.monotonic()
    for script in SCRIPTS:
        path = BENCH_DIR / script
        if not path.exists():
            print(f"== {script}: not in this checkout, skipped")
            continue
        print(f"== {script}", flush=True)
        begin = time.monotonic()
        if script == "ingest.py":
            code = run_ingest(path)
        else:
            code = subprocess.call([sys.executable, str(path)], cwd=BENCH_DIR.parent)
        durations[script] = round(time.monotonic() - begin, 1)
        if code != 0:
            failed.append(script)
            print(f"== {script} failed ({code})")
    total = round(time.monotonic() - started, 1)
    write_results("run_all", {"seconds": durations, "total_seconds": total, "failed": failed})
    subprocess.call([sys.executable, str(BENCH_DIR / "plot.py")], cwd=BENCH_DIR.parent)
    print(f"== all benchmarks: {total:.0f} s" + (" (quick)" if QUICK else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
