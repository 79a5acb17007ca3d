"""Parse+map throughput: a file's rows -> validated records -> the vendor request bodies, against a
bare loop over the same file in the same run. The two figures of issue J's goals (their targets:
bench/goals.py):

- JSON Lines -> vendor bodies vs a `json.loads` + `json.dumps` loop (per line);
- CSV -> vendor bodies vs a `csv.reader` + `json.dumps(dict(zip(header, row)))` loop (per row).

"usersync" is what the chunk function does with a file, minus S3, the ledger and HTTP: the file
function's streaming planning pass, then each chunk read as the chunk function reads it
(`chunk_records` into one list, with the cyclic collector paused as `work.deliver_chunk` pauses it),
then the delivery plan for a Batch Custom Data destination (`delivery.plan.plan`: each record's bulk
element, coalescing, the calls), and the bytes of each bulk call's body, encoded as the Batch client
encodes them (`vendors.http.json_body`).
The bare loops are the least any program must do to read every field and write it as JSON.
"""

from __future__ import annotations

import csv
import json
import sys
import time

from common import QUICK, REPO_ROOT, write_results
from data import csv_rows, jsonl_rows

sys.path.insert(0, str(REPO_ROOT / "layers" / "usersync"))
sys.path.insert(0, str(REPO_ROOT / "dev"))

ROWS = 100_000 if QUICK else 1_000_000
SPLIT_ROWS = ROWS // 10  # parse alone is timed on a tenth: it is parse+map minus the map, to show the split


def bare_csv(path) -> int:
    rows = 0
    dumps = json.dumps
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        for row in reader:
            dumps(dict(zip(header, row)))
            rows += 1
    return rows


def bare_jsonl(path) -> int:
    rows = 0
    loads, dumps = json.loads, json.dumps
    with open(path, encoding="utf-8") as file:
        for line in file:
            dumps(loads(line))
            rows += 1
    return rows


def _chunks(path):
    """Each chunk's items, read as the chunk function reads them (usersync.work.deliver_chunk)."""
    from usersync_dev.local.file_records import plan_local_file
    return plan_local_file(path).chunk_items()


def usersync_parse(path) -> int:
    from usersync.work.collector import collector_paused
    rows = 0
    for read in _chunks(path):
        with collector_paused():
            rows += len(read())
    return rows


def usersync_bodies(path) -> int:
    from usersync.delivery.plan import plan
    from usersync.records import SourcedRecord
    from usersync.vendors.batch.destination import BatchCustomDataDestination, BatchSettings
    from usersync.vendors.http import json_body
    from usersync.work.collector import collector_paused

    batch = BatchCustomDataDestination("batch", BatchSettings(type="batch", api_key="k", rest_key="r"), lambda: None)
    rows = 0
    for read in _chunks(path):
        with collector_paused():
            items = read()
            rows += len(items)
            planned = plan(batch, [item for item in items if isinstance(item, SourcedRecord)], {})
            assert not planned.failed
            for wave in planned.waves:
                for call in wave:
                    json_body([part.payload for part in call])
    return rows


def timed(function, path) -> dict:
    started = time.perf_counter()
    rows = function(path)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "us_per_row": round(seconds / rows * 1e6, 2)}


def main() -> None:
    files = {"jsonl": (jsonl_rows, bare_jsonl), "csv": (csv_rows, bare_csv)}
    results = []
    for kind, (generate, bare) in files.items():
        path = generate(ROWS)
        baseline = timed(bare, path)
        parse_map = timed(usersync_bodies, path)
        parse = timed(usersync_parse, generate(SPLIT_ROWS))
        split = timed(usersync_bodies, generate(SPLIT_ROWS))
        parse["share_of_parse_map"] = round(parse["seconds"] / split["seconds"], 3)
        assert parse_map["rows"] == baseline["rows"] == ROWS, (kind, parse_map, baseline)
        ratio = round(parse_map["rows_per_s"] / baseline["rows_per_s"], 3)
        results.append({"format": kind, "file_mib": round(path.stat().st_size / 2**20, 1), "bare_loop": baseline,
                        "parse": parse, "parse_map": parse_map, "parse_map_vs_bare": ratio})
        print(f"{kind:<5} {ROWS:,} rows: bare {baseline['us_per_row']:>6.2f} µs/row  parse {parse['us_per_row']:>6.2f}  "
              f"parse+map+bodies {parse_map['us_per_row']:>6.2f} µs/row = {ratio:.2f}× bare")
    write_results("parse_map", {
        "what": "per row: bare loop (json.loads + json.dumps / csv.reader + json.dumps of the row dict) vs "
                "usersync's parse (plan + chunks -> validated records) and parse+map (+ Batch bulk elements and "
                "the bytes of their bulk-call bodies)",
        "rows": ROWS, "parse_rows": SPLIT_ROWS, "results": results,
    })


if __name__ == "__main__":
    main()
