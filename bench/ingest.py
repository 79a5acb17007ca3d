"""Benchmark: S3 file ingestion at any size, on this machine, through the local pipeline.

    .venv/bin/python bench/ingest.py                  # 1 GB vs 10 MB (make bench-ingest)
    .venv/bin/python bench/ingest.py --size-mb 100    # quicker

1. Generates a CSV file of --size-mb (about 85 bytes and 9 typed columns a row) and a
   --small-mb one, in bench/out/ (kept between runs).
2. Parse+map throughput on the first --sample-mb of the large file, against a bare loop over the
   same bytes in the same run: `csv.reader` + `json.dumps(dict(zip(header, row)))`.
   "parse" = a chunk job's reading: CSV -> record dicts -> parse_record (validated records with
   sources); "parse+map" adds the Batch mapping and the JSON body of each bulk call.
3. Each file through the whole local pipeline: upload to moto S3 -> S3 notification -> SQS ->
   file function -> chunk queue -> chunk function -> Batch simulator (two apps) over HTTP. The
   functions run in a fresh child process (a Lambda instance, in effect) whose peak RSS is the
   memory figure; moto and the simulator run in this process. The small file runs whole; of the
   large one the file function reads it all (one pass, every chunk job queued) and --large-chunks
   chunk jobs run: on this 2-core machine the local simulator, not the pipeline, would need hours
   for all of them, so their mean duration gives an estimate for the whole file.

Writes bench/results/ingest.json. Timings depend on the machine: never asserted in tests.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from data import CSV_HEADER, VERSION, _csv_row, _write

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results" / "ingest.json"


def generate(path: Path, size_bytes: int) -> Path:
    """A CSV file of about `size_bytes`, reused if already there; CRLF rows, as Windows exports write them."""
    return _write(path, f"{VERSION}:crlf:{size_bytes}", CSV_HEADER, lambda n: _csv_row(n)[:-1] + "\r\n",
                  size=size_bytes)


def head_bytes(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(size)
    return data[: data.rindex(b"\n") + 1]


# --- 2. parse+map throughput against the bare loop --------------------------------------------

def bare_loop(data: bytes) -> int:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    dumps = json.dumps
    rows = 0
    for row in reader:
        dumps(dict(zip(header, row)))
        rows += 1
    return rows


def ours(data: bytes, rows_per_chunk: int) -> dict[str, float]:
    from usersync.vendors.batch.mapping import bulk_element
    from usersync.ingest.planning import plan_file
    from usersync.parsing.files import FileFormat, chunk_records
    from usersync.records import Source, SourcedRecord

    started = time.perf_counter()
    plan = plan_file(io.BytesIO(data), FileFormat("csv"), "bench", rows_per_chunk=rows_per_chunk)
    planned = time.perf_counter()
    parse_s = map_s = 0.0
    rows = 0
    for chunk in plan.chunks:
        t0 = time.perf_counter()
        text = data[chunk.start:chunk.end].decode("utf-8")
        items = list(chunk_records(text, "csv", first_line=chunk.first_line, header=plan.header,
                                   source_at=lambda line, ordinal: Source("s3", bucket="b", key="k", line=line, chunk="c", ordinal=ordinal)))
        t1 = time.perf_counter()
        body = json.dumps({"users": [bulk_element(i.record) for i in items if isinstance(i, SourcedRecord)]})
        t2 = time.perf_counter()
        parse_s, map_s, rows = parse_s + t1 - t0, map_s + t2 - t1, rows + len(items)
        assert body
    return {"rows": rows, "plan_s": planned - started, "parse_s": parse_s, "map_s": map_s}


def throughput(sample: bytes, rows_per_chunk: int) -> dict:
    t0 = time.perf_counter()
    bare_rows = bare_loop(sample)
    bare_s = time.perf_counter() - t0
    mine = ours(sample, rows_per_chunk)
    assert mine["rows"] == bare_rows, (mine["rows"], bare_rows)
    bare_rate = bare_rows / bare_s
    parse_rate = mine["rows"] / mine["parse_s"]
    parse_map_rate = mine["rows"] / (mine["parse_s"] + mine["map_s"])
    return {
        "sample_mb": round(len(sample) / 1e6, 1), "rows": bare_rows,
        "bare_csv_reader_json_dumps_rows_per_s": round(bare_rate),
        "parse_rows_per_s": round(parse_rate), "parse_vs_bare": round(parse_rate / bare_rate, 2),
        "parse_map_rows_per_s": round(parse_map_rate), "parse_map_vs_bare": round(parse_map_rate / bare_rate, 2),
        "planner_mb_per_s": round(len(sample) / 1e6 / mine["plan_s"], 1),
    }


# --- 3. the whole local pipeline ----------------------------------------------------------------

def serve_ranges_like_s3() -> None:
    """moto reads the whole object for every ranged GET, then slices it (S3 reads only the range):
    with a 1 GB object and ~1,000 chunk reads that is moto's cost, not the pipeline's. This
    benchmark-only patch serves `Range: bytes=a-b` from moto's stored buffer."""
    from moto.s3.responses import S3Response

    original = S3Response.get_object

    def get_object(self):  # noqa: ANN001, ANN202
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("range") or "")
        if not match or "partNumber" in self.querystring:
            return original(self)
        key, not_modified = self._get_key()
        if not_modified:
            return original(self)
        start, end = int(match[1]), min(int(match[2]), key.size - 1)
        with key.lock:
            key._value_buffer.seek(start)
            data = key._value_buffer.read(end - start + 1)
        headers = {**key.response_dict, "content-range": f"bytes {start}-{end}/{key.size}",
                   "content-length": str(len(data)), "Accept-Ranges": "bytes"}
        if key.version_id != "null":
            headers["x-amz-version-id"] = key.version_id
        return 206, headers, data

    S3Response.get_object = get_object


def pipeline(path: Path, key: str, rows_per_chunk: int, max_chunks: int | None = None) -> dict:
    """The file through the local pipeline. With `max_chunks`, the file function reads the whole
    file and queues every chunk job, but only that many chunk jobs run (the rest would take the
    simulator hours on this machine): their durations give the estimate for the whole file."""
    from usersync_dev.local.sandbox import LocalSandbox

    quiet = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true", "ROWS_PER_CHUNK": str(rows_per_chunk)}
    with LocalSandbox(environment=quiet) as sandbox:
        config = sandbox.config["destinations"]
        sandbox.put_config({"destinations": {name: config[name] for name in ("batch_ios", "batch_android")}})
        t0 = time.perf_counter()
        sandbox.files.upload_file(key, path)
        upload_s = time.perf_counter() - t0
        env = {**os.environ, **sandbox.environment(), "PYTHONPATH": str(ROOT / "layers" / "usersync"),
               "BENCH_MAX_CHUNKS": str(max_chunks or 0)}
        t0 = time.perf_counter()
        # The worker runs both functions in one other process with the dummy keys of the sandbox's
        # environment: IAM is for the tests to check (tests/integration/test_function_roles.py), not this benchmark.
        with sandbox.stack.unchecked():
            worker = subprocess.run([sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True,
                                    check=False, timeout=3600)
        wall_s = time.perf_counter() - t0
        if worker.returncode != 0:
            raise RuntimeError(f"worker failed:\n{worker.stderr[-4000:]}")
        stats = json.loads(worker.stdout.strip().splitlines()[-1])
        job = sandbox.files.job(key)
        delivered = {name: c["delivered"] for name, c in job["destinations"].items()}
        size = path.stat().st_size
        result = {
            "file_mb": round(size / 1e6, 1), "rows": job["records"]["in_file"], "chunks": job["chunks"]["total"],
            "chunks_run": job["chunks"]["done"], "state": job["state"], "upload_s": round(upload_s, 1),
            "pipeline_s": round(wall_s, 1), "delivered": delivered, "batch_calls": len(sandbox.batch.tokens), **stats,
        }
        if not max_chunks:
            report = sandbox.files.report(key)
            assert report["state"] == "DONE" and report["records"]["read"] == report["records"]["in_file"]
            assert all(count == report["records"]["read"] for count in delivered.values()), delivered
            result.update(mb_per_s=round(size / 1e6 / wall_s, 2), rows_per_s=round(report["records"]["read"] / wall_s))
        else:
            mean_chunk = stats["chunk_invocations_s"] / max(1, stats["invocations"]["chunk"])
            result["estimated_whole_file_s_per_concurrent_chunk_function"] = round(
                stats["longest_file_invocation_s"] + mean_chunk * job["chunks"]["total"])
        return result


def worker() -> None:
    """Runs in a fresh process with the sandbox's environment: the file and chunk functions fed by
    the local event pump, like two Lambda functions sharing one instance."""
    import boto3

    from usersync_dev.local.pump import SqsEventPump, load_handler

    sqs = boto3.client("sqs")
    durations: dict[str, list[float]] = {"file": [], "chunk": []}
    pumps = {
        "file": SqsEventPump(sqs, os.environ["FILE_EVENTS_QUEUE_URL"], load_handler("ingest_file"),
                             function_name="usersync-ingest-file", batch_size=1, timeout_s=900),
        "chunk": SqsEventPump(sqs, os.environ["CHUNK_QUEUE_URL"], load_handler("deliver_chunk"),
                              function_name="usersync-deliver-chunk", batch_size=1, timeout_s=120),
    }
    limits = {"file": 1_000_000, "chunk": int(os.environ.get("BENCH_MAX_CHUNKS") or 0) or 1_000_000}
    for name in ("file", "chunk"):
        while len(durations[name]) < limits[name]:
            t0 = time.perf_counter()
            if not pumps[name].run_once():
                break
            durations[name].append(time.perf_counter() - t0)
    print(json.dumps({
        "invocations": {n: len(d) for n, d in durations.items()},
        "longest_file_invocation_s": round(max(durations["file"]), 2),
        "longest_chunk_invocation_s": round(max(durations["chunk"]), 2),
        "chunk_invocations_s": round(sum(durations["chunk"]), 1),
        "chunk_retries": pumps["chunk"].stats.failed_messages,
        # VmHWM, not ru_maxrss: after fork+exec Linux's ru_maxrss starts at the parent's RSS (moto's 1 GB).
        "peak_rss_mb": round(peak_rss_kb() / 1024, 1),
    }))


def peak_rss_kb() -> int:
    return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM"))


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gb": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--small-mb", type=int, default=10)
    parser.add_argument("--sample-mb", type=int, default=128, help="of the large file, for the throughput comparison")
    parser.add_argument("--rows-per-chunk", type=int, default=10_000)
    parser.add_argument("--large-chunks", type=int, default=20,
                        help="chunk jobs of the large file to run (0: all; the file function always reads it all)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()

    started = time.perf_counter()
    big = generate(OUT / f"users-{args.size_mb}mb.csv", args.size_mb * 1024 * 1024)
    small = generate(OUT / f"users-{args.small_mb}mb.csv", args.small_mb * 1024 * 1024)
    print(f"files ready ({time.perf_counter() - started:.0f} s)", flush=True)

    rates = throughput(head_bytes(big, min(args.sample_mb, args.size_mb) * 1024 * 1024), args.rows_per_chunk)
    print("throughput:", json.dumps(rates), flush=True)

    serve_ranges_like_s3()
    runs = {}
    for label, path, limit in (("small", small, None), ("large", big, args.large_chunks or None)):
        runs[label] = pipeline(path, f"incoming/{path.name}", args.rows_per_chunk, limit)
        print(f"{label}:", json.dumps(runs[label]), flush=True)

    ratio = runs["large"]["peak_rss_mb"] / runs["small"]["peak_rss_mb"]
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
        "rows_per_chunk": args.rows_per_chunk, "throughput": rates, "pipeline": runs,
        "memory_large_vs_small": round(ratio, 2), "memory_flat": ratio <= 1.5,
        "parse_goal_met": rates["parse_vs_bare"] >= 0.5, "bench_s": round(time.perf_counter() - started),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
