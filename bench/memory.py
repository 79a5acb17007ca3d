"""Peak memory against file size: what the file function's planning pass and one chunk job hold,
against reading the file whole (the least a non-streaming function would hold), each in a fresh
process whose peak resident set size (ru_maxrss) is the figure.

The planning pass streams the file once (usersync.ingest.planning through usersync_dev.local.file_records,
as the file function does with an S3 stream); a chunk job reads, parses and maps one chunk of
ROWS_PER_CHUNK rows. Neither should grow with the file: a Lambda's memory setting then holds any file.
"""

from __future__ import annotations

import json

from common import QUICK, REPO_ROOT, python_env, run_python, write_results
from data import csv_bytes

SIZES_MIB = [4, 16, 64] if QUICK else [16, 64, 256, 512]

PRELUDE = f"""
import json, resource, sys
sys.path.insert(0, {str(REPO_ROOT / 'layers' / 'usersync')!r})
from pathlib import Path
from usersync_dev.local.file_records import plan_local_file
from usersync.vendors.batch.mapping import bulk_element
from usersync.records import SourcedRecord
path = Path(sys.argv[1]) if len(sys.argv) > 1 else None
"""
REPORT = "\nprint(json.dumps({'peak_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"

TASKS = {
    "interpreter and imports": "pass",
    "read whole file (baseline)": "data = open(PATH, 'rb').read()",
    "file function: planning pass": "plan = plan_local_file(Path(PATH))",
    "chunk function: one chunk": """
plan = plan_local_file(Path(PATH))
plan.plan.chunks[:] = plan.plan.chunks[:1]
json.dumps([bulk_element(item.record) for item in plan.records() if isinstance(item, SourcedRecord)])
""",
}


def peak_mib(task: str, path) -> float:
    code = PRELUDE + task.replace("PATH", repr(str(path))) + REPORT
    return round(json.loads(run_python(code, python_env()).strip().splitlines()[-1])["peak_mib"], 1)


def main() -> None:
    results = []
    for size in SIZES_MIB:
        path = csv_bytes(size * 2**20)
        row = {"file_mib": size, **{name: peak_mib(task, path) for name, task in TASKS.items()}}
        results.append(row)
        print(f"{size:>5} MiB: " + ", ".join(f"{name} {value:.0f} MiB" for name, value in row.items() if name != "file_mib"))
    write_results("memory", {
        "what": "peak RSS (MiB) of a fresh process, against the size of the CSV file it handles",
        "rows_per_chunk": 10_000, "results": results,
    })


if __name__ == "__main__":
    main()
