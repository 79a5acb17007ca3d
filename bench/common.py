"""What every benchmark shares: where results go, the machine they ran on, small timing helpers.

Each benchmark is a script (`python bench/<name>.py`) that measures its figures and a baseline in
the same run, and writes `bench/results/<name>.json`; `bench/plot.py` draws the PNGs from them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
WORK = BENCH_DIR / "out"  # generated inputs (git-ignored)
QUICK = os.environ.get("BENCH_QUICK") == "1"  # smaller inputs: to check the scripts, not to publish figures


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {"benchmark": name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": machine(), "quick": QUICK, **data}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return path


def median(values: list[float]) -> float:
    return statistics.median(values)


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this repository's layer importable, no stray AWS settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update({"PYTHONDONTWRITEBYTECODE": "0", "SAM_CLI_TELEMETRY": "0"})
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str], cwd: Path | None = None) -> str:
    """Run `code` in a fresh interpreter (this venv's); return its stdout."""
    answer = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=300)
    if answer.returncode != 0:
        raise RuntimeError(f"child Python failed ({answer.returncode}):\n{answer.stderr[-2000:]}")
    return answer.stdout
