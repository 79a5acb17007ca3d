"""Input files for the benchmarks, generated once into bench/out/ and reused (same seedless content).

Rows look like a warehouse export: nine typed columns, ~115 bytes a CSV row (as bench/ingest.py's).
"""

from __future__ import annotations

import json
from pathlib import Path

from common import WORK

VERSION = 1
CSV_HEADER = "user_id,nickname,age:int,level_progress:float,is_subscribed:bool,signup:date,hobbies:tags,plan,city\n"
HOBBIES = ("chess|go", "cooking", "running|swimming|chess", "")
PLANS = ("free", "pro", "team")


def _csv_row(n: int) -> str:
    return (f'user-{n:09d},"Nick, {n % 977}",{18 + n % 70},{(n % 1000) / 7:.3f},{"true" if n & 1 else "false"},'
            f"2016-01-{1 + n % 28:02d}T10:{n % 60:02d}:00,{HOBBIES[n % 4]},{PLANS[n % 3]},Paris\n")


def _json_row(n: int) -> str:
    attributes = {"nickname": f"Nick, {n % 977}", "age": 18 + n % 70, "level_progress": round((n % 1000) / 7, 3),
                  "is_subscribed": bool(n & 1), "signup": {"$date": f"2016-01-{1 + n % 28:02d}T10:{n % 60:02d}:00"},
                  "plan": PLANS[n % 3], "city": "Paris"}
    if HOBBIES[n % 4]:
        attributes["hobbies"] = HOBBIES[n % 4].split("|")
    return json.dumps({"user_id": f"user-{n:09d}", "attributes": attributes}) + "\n"


def _cached(path: Path, stamp: str) -> bool:
    meta = path.with_name(path.name + ".meta")
    return path.exists() and meta.exists() and meta.read_text() == stamp


def _write(path: Path, stamp: str, header: str, row, *, rows: int | None = None, size: int | None = None) -> Path:
    if _cached(path, stamp):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    written, n = 0, 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(header)
        written += len(header)
        while (rows is not None and n < rows) or (size is not None and written < size):
            count = 10_000 if rows is None else min(10_000, rows - n)
            block = "".join(row(i) for i in range(n, n + count))
            out.write(block)
            written += len(block)
            n += count
    path.with_name(path.name + ".meta").write_text(stamp)
    return path


def csv_rows(rows: int) -> Path:
    return _write(WORK / f"users-{rows}.csv", f"{VERSION}:rows:{rows}", CSV_HEADER, _csv_row, rows=rows)


def jsonl_rows(rows: int) -> Path:
    return _write(WORK / f"users-{rows}.jsonl", f"{VERSION}:rows:{rows}", "", _json_row, rows=rows)


def csv_bytes(size: int) -> Path:
    return _write(WORK / f"users-{size // 2**20}MiB.csv", f"{VERSION}:bytes:{size}", CSV_HEADER, _csv_row, size=size)
