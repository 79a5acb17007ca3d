"""A chunk job retried after a partial failure delivers only what was not delivered, reports each
invalid row once, and counts the chunk into its job once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from usersync.delivery.outcomes import SendResult, VendorUnavailable
from usersync.ingest.chunk_jobs import ChunkJob
from usersync.delivery.ledger import InMemoryLedger
from usersync.delivery.service import DeliveryService
from usersync.work.deliver_chunk import ChunkDeferred, ChunkRunner
from usersync.ingest.reports import JobReports
from usersync.records import UserChange
from usersync.stores.jobs import ROWS, ChunkMark, JobRef


class Destination:
    vendor: ClassVar[str] = "fake"
    record_type: ClassVar[type] = UserChange
    batch_size, concurrency = 100, 1

    def __init__(self, name: str, answers: list[Any] | None = None):
        self.name, self.answers, self.calls = name, list(answers or []), []
        self.settings = SimpleNamespace(max_attempts=1, concurrency=1, timeout_s=1.0)  # no retry inside the call

    def prepare(self, record):
        return {"id": record.user_id}

    def prepare_steps(self, record):
        return [self.prepare(record)]

    def key(self, record):
        return record.user_id

    def send(self, payloads):
        self.calls.append([p["id"] for p in payloads])
        answer = self.answers.pop(0) if self.answers else SendResult(token=f"{self.name}-{len(self.calls)}")
        if isinstance(answer, Exception):
            raise answer
        return answer


class Jobs:
    """JobStore in memory."""

    def __init__(self, chunks_total: int):
        self.item: dict[str, Any] = {"state": "RUNNING", "chunks_total": chunks_total, "chunks_done": 0}
        self.marks: dict[int, dict[str, ChunkMark]] = {}
        self.done: set[int] = set()

    def chunk_marks(self, ref, index):
        return dict(self.marks.get(index, {}))

    def all_marks(self, ref):
        return [m for marks in self.marks.values() for m in marks.values()]

    def save_marks(self, ref, index, marks):
        self.marks.setdefault(index, {}).update((m.destination, m) for m in marks)

    def complete_chunk(self, ref, index, added):
        if index in self.done:
            return None
        self.done.add(index)
        self.item["chunks_done"] += 1
        for name, count in added.items():
            self.item[name] = self.item.get(name, 0) + count
        return dict(self.item)

    def get(self, ref):
        return dict(self.item, bucket=ref.bucket, key=ref.key, version=ref.version)

    def finish(self, ref, key, finished_at):
        self.item.update(state="DONE", report_key=key)

    def fail(self, ref, error):
        self.item.update(state="FAILED", error=error)

    def set_report(self, ref, key):
        self.item["report_key"] = key


class Objects:
    def __init__(self, data: bytes):
        self.data, self.written, self.deleted = data, {}, []

    def read_range(self, bucket, key, version, start, end):
        return self.data[start:end]

    def put_json(self, bucket, key, document):
        self.written[key] = document
        return key

    def delete(self, bucket, key):
        self.deleted.append(key)


class Failed:
    def __init__(self):
        self.sent = []

    def send(self, failures):
        self.sent.extend(failures)


DATA = b"user_id,n:int\nu1,1\nu2,x\nu3,3\nu4,4\n"
JOB = ChunkJob(bucket="b", key="incoming/f.csv", job_version="v1", object_version="v1", index=0, of=1,
               start=len(b"user_id,n:int\n"), end=len(DATA), first_line=2, rows=4, kind="csv", header=["user_id", "n:int"])


def runner(destinations, jobs, objects, failed, ledger, max_receives=5):
    delivery = DeliveryService(lambda: destinations, failed, ledger)
    return ChunkRunner(delivery, jobs, objects, JobReports(jobs, objects), max_receives=max_receives)


def test_a_chunk_retried_after_one_destination_failed_is_sent_only_there_and_counted_once():
    good, flaky = Destination("good"), Destination("flaky", [VendorUnavailable("503 from the vendor")])
    jobs, objects, failed, ledger = Jobs(chunks_total=1), Objects(DATA), Failed(), InMemoryLedger()
    run = runner({"good": good, "flaky": flaky}, jobs, objects, failed, ledger)

    with pytest.raises(ChunkDeferred, match="flaky: 503"):
        run.run(JOB)
    assert good.calls == [["u1", "u3", "u4"]] and flaky.calls == [["u1", "u3", "u4"]]
    assert [(f.source.line, f.field) for f in failed.sent] == [(3, "attributes.n")]  # the invalid row, once
    assert jobs.item["chunks_done"] == 0 and not jobs.marks

    outcome = run.run(JOB, receive_count=2)  # SQS's retry of the chunk
    assert good.calls == [["u1", "u3", "u4"]]  # not sent again
    assert flaky.calls[-1] == ["u1", "u3", "u4"] and len(flaky.calls) == 2
    assert len(failed.sent) == 1  # the invalid row is not reported twice
    assert outcome.job_state == "DONE"
    # every attempt's work, counted once: good's records from the first, flaky's from the second
    assert jobs.item["n_read"] == 4 and jobs.item["n_rejected"] == 1
    assert jobs.item["delivered:good"] == jobs.item["delivered:flaky"] == 3
    report = next(iter(objects.written.values()))
    assert report["state"] == "DONE" and report["destinations"]["flaky"]["tokens"] == ["flaky-2"]
    assert report["destinations"]["good"]["tokens"] == ["good-1"]

    assert run.run(JOB, receive_count=3).job_state == "DONE"  # delivered again: nothing sent, nothing counted
    assert len(good.calls) == 1 and len(flaky.calls) == 2 and jobs.item["chunks_done"] == 1


def test_records_naming_their_destinations_are_sent_only_where_still_due_on_a_retry():
    data = b'{"user_id": "a", "destinations": ["good", "flaky"]}\n{"user_id": "b", "destinations": ["good"]}\n'
    job = JOB.model_copy(update={"kind": "jsonl", "header": None, "start": 0, "end": len(data), "first_line": 1})
    good, flaky = Destination("good"), Destination("flaky", [VendorUnavailable("timeout")])
    jobs = Jobs(chunks_total=2)
    run = runner({"good": good, "flaky": flaky}, jobs, Objects(data), Failed(), InMemoryLedger())
    with pytest.raises(ChunkDeferred):
        run.run(job)
    assert run.run(job, receive_count=2).job_state == "RUNNING"  # one chunk of two: the job goes on
    assert good.calls == [["a", "b"]] and flaky.calls == [["a"], ["a"]]
    assert jobs.item["delivered:good"] == 2 and jobs.item["delivered:flaky"] == 1


def test_the_last_attempt_reports_what_is_left_and_ends_the_job():
    """A destination down through every attempt SQS allows: the chunk ends anyway, its undelivered
    records in the failed-records queue (retryable), the job DONE with the counts that say so."""
    good, down = Destination("good"), Destination("down", [VendorUnavailable("503")] * 3)
    jobs, failed = Jobs(chunks_total=1), Failed()
    run = runner({"good": good, "down": down}, jobs, Objects(DATA), failed, InMemoryLedger(), max_receives=3)
    for attempt in (1, 2):
        with pytest.raises(ChunkDeferred):
            run.run(JOB, receive_count=attempt)
    assert run.run(JOB, receive_count=3).job_state == "DONE"
    gave_up = [f for f in failed.sent if f.destination == "down"]
    assert sorted(f.raw["user_id"] for f in gave_up) == ["u1", "u3", "u4"]
    assert {(f.code, f.retryable) for f in gave_up} == {("VENDOR_UNAVAILABLE", True)}
    assert jobs.item["delivered:good"] == 3 and jobs.item["rejected:down"] == 3 and jobs.item["delivered:down"] == 0
    assert jobs.item["code:VENDOR_UNAVAILABLE"] == 3 and jobs.item["state"] == "DONE"


def test_job_ref_names_chunks_as_delivery_units():
    ref = JobRef("bucket", "incoming/a b.csv", "v7")
    assert ref.chunk_id(3) == "bucket/incoming/a b.csv@v7#3"
