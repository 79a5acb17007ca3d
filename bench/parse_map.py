"""Parse+map throughput: a file's rows -> validated records -> each vendor's payload, against a bare
loop over the same file in the same run.

"usersync" is exactly what the functions do with a file, minus S3 and HTTP: the file function's
streaming planning pass, then each chunk read as the chunk function reads it (usersync_dev.local.file_records:
CSV/JSONL -> record dicts -> parse_record), then the Batch bulk element and the JSON body of the calls.
"bare loop" is the least any program must do to see every field: csv.reader / json.loads per line.
"""

from __future__ import annotations

import csv
import json
import sys
import time

from common import QUICK, REPO_ROOT, write_results
from data import csv_rows, jsonl_rows

ROWS = 100_000 if QUICK else 1_000_000
SPLIT_ROWS = ROWS // 10  # parse alone is timed on a tenth: it is parse+map minus the map, to show the split
BODY_EVERY = 10_000  # one JSON body per Batch bulk call


def bare_csv(path) -> int:
    rows = 0
    with open(path, encoding="utf-8", newline="") as file:
        for _ in csv.reader(file):
            rows += 1
    return rows - 1  # the header


def bare_jsonl(path) -> int:
    rows = 0
    loads = json.loads
    with open(path, encoding="utf-8") as file:
        for line in file:
            loads(line)
            rows += 1
    return rows


def usersync_parse(path) -> int:
    from usersync_dev.local.file_records import file_records

    return sum(1 for _ in file_records(path))


def usersync_parse_map(path) -> int:
    from usersync.vendors.batch.mapping import bulk_element
    from usersync_dev.local.file_records import file_records
    from usersync.records import SourcedRecord

    rows, body = 0, []
    for item in file_records(path):
        rows += 1
        if isinstance(item, SourcedRecord):
            body.append(bulk_element(item.record))
            if len(body) == BODY_EVERY:
                json.dumps(body)
                body = []
    json.dumps(body)
    return rows


def timed(function, path) -> dict:
    started = time.perf_counter()
    rows = function(path)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}


def main() -> None:
    sys.path.insert(0, str(REPO_ROOT / "layers" / "usersync"))
    files = {"csv": (csv_rows, bare_csv), "jsonl": (jsonl_rows, bare_jsonl)}
    results = []
    for kind, (generate, bare) in files.items():
        path = generate(ROWS)
        baseline = timed(bare, path)
        parse_map = timed(usersync_parse_map, path)
        parse = timed(usersync_parse, generate(SPLIT_ROWS))
        split = timed(usersync_parse_map, generate(SPLIT_ROWS))
        parse["share_of_parse_map"] = round(parse["seconds"] / split["seconds"], 3)
        assert parse_map["rows"] == baseline["rows"] == ROWS, (kind, parse_map, baseline)
        results.append({"format": kind, "file_mib": round(path.stat().st_size / 2**20, 1), "bare_loop": baseline,
                        "parse": parse, "parse_map": parse_map,
                        "parse_map_vs_bare": round(parse_map["rows_per_s"] / baseline["rows_per_s"], 3)})
        print(f"{kind:<5} {ROWS:,} rows: bare {baseline['rows_per_s']:>9,}/s  parse {parse['rows_per_s']:>9,}/s  "
              f"parse+map {parse_map['rows_per_s']:>9,}/s ({results[-1]['parse_map_vs_bare']:.2f}× bare)")
    write_results("parse_map", {
        "what": "rows/s: bare loop (csv.reader / json.loads) vs usersync's parse (plan + chunks -> validated "
                "records) and parse+map (+ Batch bulk elements and their JSON bodies)",
        "rows": ROWS, "parse_rows": SPLIT_ROWS, "results": results,
    })


if __name__ == "__main__":
    main()
