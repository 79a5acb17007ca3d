"""Hostile input through both paths of the local pipeline (moto, the vendor simulators, the real
handlers on real event shapes), each input run by the functions in a process of their own
(tests/integration/measured_run.py). For every input:

- no handler raises and no batch item is handed back (nothing for SQS to retry: input is never a
  reason to fail a batch, only an infrastructure failure is);
- the good records beside a bad one are delivered;
- each bad record is in the failed-records queue once, with a reason naming its field and where
  it came from (message and index, or file and line), in an envelope SQS takes (bytes, characters);
- every invocation adds less than PEAK_ADDED_BOUND of memory at its peak, whatever its input;
- every file's job ends (DONE or FAILED), and nothing is left in a dead-letter queue.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from hostile_input import (
    CSV_HEADER, RAW_TEXT, Specimen, csv_rows, gzip_of_repeated, message_of, specimens,
)
from usersync.parsing.messages import records_in_message
from usersync.records import SourcedRecord
from usersync_dev.local.pump import LocalLambdaContext
from usersync_dev.local.sandbox import CLEVERTAP_ACCOUNT, LocalSandbox

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
# What one invocation may add to its process's memory at its peak, whatever it is given: the file
# function holds a 4 MiB read block, a record and a chunk (16 MiB) at most. Measured: about 20 MiB
# for a 512 MiB line or a 256 MiB gzip bomb (it was +1.5 GiB for the line).
PEAK_ADDED_BOUND = 64 * MiB
SQS_MESSAGE_MAX = 262_144  # bytes, as real SQS counts them (moto counts characters)
NOT_FOR_SQS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CHILD = Path(__file__).with_name("measured_run.py")
BATCH_APPS = ("ios", "android")
SANDBOX_EXAMPLES = 4 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 100


@pytest.fixture(scope="module")
def running_sandbox():
    with LocalSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox):
    running_sandbox.reset()
    return running_sandbox


# --- running the functions, measured -----------------------------------------------------------

def run_functions(sandbox: LocalSandbox, *steps: dict, **environment: str) -> list[dict]:
    """The steps' functions on their queues in a child process; asserts what holds for any input."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "log.json")
        # Each function starts under its own role's credentials; the child's pumps act as the administrator.
        steps = [{**step, "credentials": sandbox.stack.function_credentials(sandbox.logical_id(step["function"]))}
                 for step in steps]
        job = {"env": {**sandbox.environment(), **environment, "AWS_SESSION_TOKEN": ""},
               "admin": sandbox.stack.admin_credentials(), "out": out, "steps": steps}
        done = subprocess.run([sys.executable, str(CHILD)], input=json.dumps(job), capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        with open(out) as written:
            log = json.load(written)
    for entry in log:
        where = f"{entry['function']} on {[b[:120] for b in entry['bodies']]}"
        assert not entry["raised"], f"{where} raised"
        assert entry["failed_items"] == 0, f"{where} handed messages back to SQS"
        assert entry["peak_added_bytes"] < PEAK_ADDED_BOUND, f"{where}: +{entry['peak_added_bytes'] / MiB:.0f} MiB"
    for queue in ("WorkDeadLetterQueue", "FileEventsDeadLetterQueue", "ChunkDeadLetterQueue"):
        assert sandbox.queue_bodies(queue) == [], queue
    return log


def deliver(sandbox: LocalSandbox, **environment: str) -> list[dict]:
    return run_functions(sandbox, {"function": "deliver", "queue_url": sandbox.queue_url("WorkQueue"),
                                   "batch_size": 10}, **environment)


def ingest(sandbox: LocalSandbox, **environment: str) -> list[dict]:
    """The file function one file at a time, each followed by its chunks."""
    return run_functions(
        sandbox,
        {"function": "ingest_file", "queue_url": sandbox.queue_url("FileEventsQueue"), "batch_size": 1,
         "one_at_a_time": True},
        {"function": "deliver_chunk", "queue_url": sandbox.queue_url("ChunkQueue"), "batch_size": 1},
        **environment)


def envelopes(sandbox: LocalSandbox) -> list[dict]:
    bodies = sandbox.queue_bodies("FailedRecordsQueue")
    for body in bodies:
        assert len(body.encode("utf-8")) <= SQS_MESSAGE_MAX and not NOT_FOR_SQS.search(body), body[:200]
    return [json.loads(body) for body in bodies]


def assert_delivered(sandbox: LocalSandbox, user_id: str, failures: list[dict]) -> None:
    """To both Batch apps; to CleverTap, or refused by one of its rules for that destination only."""
    for app in BATCH_APPS:
        assert sandbox.batch.profile(app, user_id), f"{user_id} not delivered to batch_{app}"
    mine = [f for f in failures if f["record"] and isinstance(f["record"], dict) and f["record"].get("user_id") == user_id]
    assert all(f["destination"] == "clevertap" for f in mine), mine
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, user_id) or mine, f"{user_id}: not at CleverTap, no reason why"


def rejected_alone(failures: list[dict], **source: object) -> dict:
    """The one envelope of a record rejected for every destination, found by its source."""
    found = [f for f in failures if all(f["source"].get(k) == v for k, v in source.items())]
    assert len(found) == 1, (source, found)
    assert found[0]["destination"] is None and found[0]["retryable"] is False
    return found[0]


# --- the SQS path: named cases -----------------------------------------------------------------

def good(user_id: str) -> str:
    return json.dumps({"user_id": user_id, "attributes": {"nickname": "fine", "age": 30}})


SQS_CASES = {  # case -> (the hostile record, with {u} for its user id; the field its rejection names; words in it)
    "integer_of_5000_digits": ('{"user_id": "{u}", "attributes": {"n": ' + "9" * 5000 + "}}", "attributes.n",
                               "5,000 digits"),
    "lone_surrogate_in_the_user_id": ('{"user_id": "{u}\\ud800", "attributes": {"a": 1}}', "user_id", "lone surrogate"),
    "lone_surrogate_in_a_value": ('{"user_id": "{u}", "attributes": {"nickname": "a\\udc00b"}}',
                                  "attributes.nickname", "lone surrogate"),
    "key_written_twice": ('{"user_id": "{u}", "attributes": {"age": 30, "age": 31}}', "attributes.age",
                          "more than once"),
    "integer_2_to_the_70": ('{"user_id": "{u}", "attributes": {"points": %d}}' % 2 ** 70, "attributes.points", "64-bit"),
    "nan": ('{"user_id": "{u}", "attributes": {"level": NaN}}', "attributes.level", "NaN is not a JSON number"),
    "nul_in_a_value": ('{"user_id": "{u}", "attributes": {"nickname": "a\\u0000b"}}', "attributes.nickname", "U+0000"),
    "nested_100000_levels": ('{"user_id": "{u}", "attributes": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}", None,
                             "nests deeper"),
    "epoch_in_milliseconds": ('{"user_id": "{u}", "attributes": {"signup": {"$date": 1472656161000}}}',
                              "attributes.signup", "milliseconds"),
    "url_with_a_space_in_the_host": ('{"user_id": "{u}", "attributes": {"avatar": {"$url": "https://exa mple.com/x"}}}',
                                     "attributes.avatar", "not a URL"),
    "url_with_one_slash": ('{"user_id": "{u}", "attributes": {"avatar": {"$url": "https:/example.com"}}}',
                           "attributes.avatar", "not a URL"),
    "url_without_a_scheme": ('{"user_id": "{u}", "attributes": {"avatar": {"$url": "www.example.com/x.png"}}}',
                             "attributes.avatar", "not a URL"),
}


@pytest.mark.parametrize("case", sorted(SQS_CASES))
def test_a_hostile_record_in_a_message_is_rejected_alone_and_the_batch_is_delivered(sandbox, case):
    hostile, field, words = SQS_CASES[case]
    bad_id = f"{case}-bad"
    # The hostile message shares a Lambda batch with good messages, and its record sits between good ones.
    ids = sandbox.publish([good(f"{case}-before"), f"[{good(f'{case}-a')}, {hostile.replace('{u}', bad_id)}, "
                                                   f"{good(f'{case}-b')}]", good(f"{case}-after")])
    deliver(sandbox)
    failures = envelopes(sandbox)
    for user_id in (f"{case}-before", f"{case}-a", f"{case}-b", f"{case}-after"):
        assert_delivered(sandbox, user_id, failures)
    failure = rejected_alone(failures, kind="sqs", message_id=ids[1], index=1)
    assert failure["error"]["code"] == "INVALID_RECORD" and failure["error"].get("field") == field
    assert words in failure["error"]["message"]
    assert not any(sandbox.batch.profile(app, bad_id) for app in BATCH_APPS)
    assert not sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, bad_id)


def test_a_262000_byte_body_of_e_acute_is_one_envelope_sqs_takes_with_the_body_kept_in_s3(sandbox):
    body = "é" * 131_000  # 262,000 bytes: a message SQS takes, not JSON
    [message_id] = sandbox.publish([body])
    deliver(sandbox)
    [failure] = envelopes(sandbox)  # in bytes: cut by characters it was 262,278, which SQS refuses
    assert failure["error"]["code"] == "INVALID_MESSAGE" and failure["source"]["message_id"] == message_id
    where = failure["record_s3"]
    assert failure["record"] is None and where["key"].startswith("failed-records/")
    kept = sandbox.files.s3.get_object(Bucket=where["bucket"], Key=where["key"])["Body"].read()
    assert json.loads(kept) == body
    assert [b for b in sandbox.queue_bodies("FileEventsQueue") if "Records" in json.loads(b)] == []  # not ingested


def test_more_records_in_a_message_than_the_limit_is_one_invalid_message(sandbox):
    [message_id] = sandbox.publish([json.dumps([{"user_id": f"u{i}"} for i in range(6)])])
    deliver(sandbox, MAX_RECORDS_PER_MESSAGE="5")
    [failure] = envelopes(sandbox)
    assert failure["error"]["code"] == "INVALID_MESSAGE" and "MAX_RECORDS_PER_MESSAGE" in failure["error"]["message"]
    assert failure["source"] == {"kind": "sqs", "message_id": message_id}
    assert sandbox.batch.users_count("ios") == 0


# --- the SQS path: generated input ---------------------------------------------------------------

SQS_BODY = RAW_TEXT.filter(lambda body: body and not NOT_FOR_SQS.search(body))  # what SQS lets a producer send


@st.composite
def messages(draw) -> list[list[Specimen] | str]:
    ids = iter(draw(st.lists(st.integers(min_value=0, max_value=10 ** 9), min_size=12, max_size=12, unique=True)))
    made: list[list[Specimen] | str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if draw(st.booleans()):
            made.append(draw(SQS_BODY))
        else:
            made.append([draw(specimens(f"user-{next(ids)}")) for _ in range(draw(st.integers(1, 2)))])
    return made


@settings(max_examples=SANDBOX_EXAMPLES)
@given(messages())
def test_generated_hostile_messages_each_end_delivered_or_rejected_alone(running_sandbox, drawn):
    sandbox = running_sandbox
    sandbox.reset()
    bodies = [body if isinstance(body, str) else message_of(body) for body in drawn]
    ids = sandbox.publish(bodies)
    deliver(sandbox)
    failures = envelopes(sandbox)
    for message_id, body, made in zip(ids, bodies, drawn):
        if isinstance(made, list):
            for index, specimen in enumerate(made):
                if specimen.good:
                    assert_delivered(sandbox, specimen.user_id, failures)
                else:
                    failure = rejected_alone(failures, kind="sqs", message_id=message_id, index=index)
                    assert failure["error"].get("field") == specimen.field
            continue
        # Any body: the parser's outcome (unit-tested) is what the pipeline delivers or reports.
        for item in records_in_message(message_id, body):
            if isinstance(item, SourcedRecord):
                mine = [f for f in failures if f["source"].get("message_id") == message_id
                        and f["source"].get("index") == item.source.index]
                assert all(f["destination"] for f in mine), mine  # refused by a vendor rule, at most
            else:
                where = {"index": item.source.index} if item.source.index is not None else {}
                failure = rejected_alone(failures, kind="sqs", message_id=message_id, **where)
                assert failure["error"]["code"] == str(item.code) and failure["error"].get("field") == item.field


# --- the file path: named cases ------------------------------------------------------------------

def jsonl(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def json_array(*elements: str) -> bytes:
    return ("[\n" + ",\n".join(elements) + "\n]").encode()


BAD_JSON = {  # name -> (the record, the field its rejection names, words in it)
    "integer_of_5000_digits": ('{"user_id": "bad", "attributes": {"n": ' + "9" * 5000 + "}}", "attributes.n", "64-bit"),
    "lone_surrogate": ('{"user_id": "bad", "attributes": {"nickname": "\\ud800"}}', "attributes.nickname",
                       "lone surrogate"),
    "key_written_twice": ('{"user_id": "bad", "attributes": {"age": 1, "age": 2}}', "attributes.age", "more than once"),
    "integer_2_to_the_70": ('{"user_id": "bad", "attributes": {"n": %d}}' % 2 ** 70, "attributes.n", "64-bit"),
    "nested_100000_levels": ('{"user_id": "bad", "attributes": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}", None,
                             "nests deeper"),
}
FILE_CASES = {  # case -> (key, content, [(line, field, words)] of the rows rejected alone)
    **{f"jsonl_{name}": ("incoming/hostile.jsonl", jsonl(good("good-1"), bad, good("good-2")), [(2, field, words)])
       for name, (bad, field, words) in BAD_JSON.items()},
    **{f"json_array_{name}": ("incoming/hostile.json", json_array(good("good-1"), bad, good("good-2")),
                              [(3, field, words)])
       for name, (bad, field, words) in BAD_JSON.items()},
    "csv_int_cell_of_5000_digits": ("incoming/hostile.csv", f"user_id,n:int\ngood-1,1\nbad,{'9' * 5000}\ngood-2,2\n".encode(),
                                    [(3, "attributes.n", "64-bit")]),
    "csv_date_cell_of_5000_digits": ("incoming/hostile.csv", f"user_id,d:date\ngood-1,1\nbad,{'1' * 5000}\ngood-2,2\n".encode(),
                                     [(3, "attributes.d", "64-bit")]),
    "csv_int_cell_2_to_the_70": ("incoming/hostile.csv", f"user_id,n:int\ngood-1,1\nbad,{2 ** 70}\ngood-2,2\n".encode(),
                                 [(3, "attributes.n", "64-bit")]),
    "csv_nul_and_control_bytes_in_cells": ("incoming/hostile.csv", b'user_id,nickname\ngood-1,ok\nbad,"a\x00b"\n'
                                           b"bad-2,\x1b[2J\nbad\x07,x\ngood-2,ok\n",
                                           [(3, "attributes.nickname", "U+0000"), (4, "attributes.nickname", "U+001B"),
                                            (5, "user_id", "U+0007")]),
    "csv_epoch_in_milliseconds": ("incoming/hostile.csv", b"user_id,d:date\ngood-1,1\nbad,1472656161000\ngood-2,2\n",
                                  [(3, "attributes.d", "milliseconds")]),
    "jsonl_gzip_lone_surrogate": ("incoming/hostile.jsonl.gz",
                                  gzip.compress(jsonl(good("good-1"), BAD_JSON["lone_surrogate"][0], good("good-2"))),
                                  [(2, "attributes.nickname", "lone surrogate")]),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_a_hostile_record_in_a_file_is_rejected_alone_with_its_line_and_the_file_is_delivered(sandbox, case):
    key, content, bad_rows = FILE_CASES[case]
    sandbox.files.upload(key, content)
    ingest(sandbox)
    failures = envelopes(sandbox)
    for user_id in ("good-1", "good-2"):
        assert_delivered(sandbox, user_id, failures)
    for line, field, words in bad_rows:
        failure = rejected_alone(failures, kind="s3", key=key, line=line)
        assert failure["error"]["code"] == "INVALID_RECORD" and failure["error"].get("field") == field
        assert words in failure["error"]["message"]
    report = sandbox.files.report(key)
    assert report["state"] == "DONE"
    assert report["records"] == {"read": 2 + len(bad_rows), "rejected": len(bad_rows), "in_file": 2 + len(bad_rows)}


EMPTY_FILES = {"incoming/empty.csv": b"", "incoming/empty.json": b"", "incoming/empty.jsonl": b"",
               "incoming/empty.csv.gz": gzip.compress(b""), "incoming/blank.csv": b"\r\n\r\n",
               "incoming/bom.jsonl": b"\xef\xbb\xbf", "incoming/empty-array.json": b"[]",
               "incoming/header-only.csv": b"user_id,age:int\n"}


def test_a_file_with_no_records_ends_done_with_zero_records_whatever_its_format(sandbox):
    """One rule for every format (a zero-byte .csv was FAILED, a zero-byte .json or .jsonl DONE)."""
    for key, content in EMPTY_FILES.items():
        sandbox.files.upload(key, content)
    ingest(sandbox)
    for key in EMPTY_FILES:
        report = sandbox.files.report(key)
        assert (report["state"], report["error"]) == ("DONE", None), key
        assert report["records"] == {"read": 0, "rejected": 0, "in_file": 0}, key
    assert envelopes(sandbox) == []


def test_a_json_file_of_one_pretty_printed_object_is_refused_once_saying_what_a_json_file_holds(sandbox):
    sandbox.files.upload("incoming/one.json", json.dumps({"user_id": "u", "attributes": {"a": 1, "b": 2}}, indent=2))
    ingest(sandbox)
    report = sandbox.files.report("incoming/one.json")
    assert report["state"] == "FAILED" and "a JSON object written over several lines" in report["error"]
    assert "JSON array of records" in report["error"]
    assert envelopes(sandbox) == []  # one clear error for the file, not one per line


def test_a_json_file_of_one_object_on_one_line_is_one_record_rejected_saying_what_a_record_needs(sandbox):
    sandbox.files.upload("incoming/wrapped.json", json.dumps({"records": [{"user_id": "u"}]}))
    ingest(sandbox)
    [failure] = envelopes(sandbox)
    assert failure["error"]["field"] == "user_id" and "audience" in failure["error"]["message"]
    assert "'records'" in failure["error"]["message"]
    assert sandbox.files.report("incoming/wrapped.json")["state"] == "DONE"


# --- the file path: bombs and long lines, memory measured ----------------------------------------

@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """~0.75 MB of gzip that inflates to 256 MiB of valid JSON Lines."""
    return gzip_of_repeated(b'{"user_id": "u", "attributes": {"n": 1}}\n', 256 * MiB)


@pytest.fixture(scope="module")
def one_long_line() -> bytes:
    """~510 KB of gzip that inflates to one line of 512 MiB, between two good lines."""
    return gzip_of_repeated(b"x", 512 * MiB, head=(good("good-1") + '\n{"user_id": "long", "attributes": {"bio": "').encode(),
                            tail=('"}}\n' + good("good-2") + "\n").encode())


def test_a_gzip_bomb_is_refused_as_it_inflates_in_bounded_memory_and_nothing_is_queued(sandbox, gzip_bomb):
    sandbox.files.upload("incoming/bomb.jsonl.gz", gzip_bomb)
    log = ingest(sandbox)
    report = sandbox.files.report("incoming/bomb.jsonl.gz")
    assert report["state"] == "FAILED" and "inflates to more than 100 times" in report["error"]
    assert "MAX_INFLATION_RATIO" in report["error"]
    assert [e["function"] for e in log if e["function"] == "deliver_chunk"] == []  # no chunk job
    assert sandbox.files.keys("work/") == [] and sandbox.batch.users_count("ios") == 0


def test_a_one_line_gzip_of_512_mib_is_refused_as_it_inflates_in_bounded_memory(sandbox, one_long_line):
    sandbox.files.upload("incoming/long.jsonl.gz", one_long_line)
    ingest(sandbox)
    report = sandbox.files.report("incoming/long.jsonl.gz")
    assert report["state"] == "FAILED" and "MAX_INFLATION_RATIO" in report["error"]
    assert sandbox.files.keys("work/") == []


def test_a_512_mib_line_streams_past_in_bounded_memory_and_only_it_is_rejected(sandbox, one_long_line):
    """With the ratio lifted, the line itself is the limit: skipped as it streams, rejected alone."""
    sandbox.files.upload("incoming/long.jsonl.gz", one_long_line)
    ingest(sandbox, MAX_INFLATION_RATIO="100000")
    failures = envelopes(sandbox)
    for user_id in ("good-1", "good-2"):
        assert_delivered(sandbox, user_id, failures)
    failure = rejected_alone(failures, kind="s3", key="incoming/long.jsonl.gz", line=2)
    assert "longer than 1 MiB (MAX_RECORD_BYTES)" in failure["error"]["message"]
    assert failure["record"]["truncated"] is True and failure["record"]["prefix"].startswith('{"user_id": "long"')
    report = sandbox.files.report("incoming/long.jsonl.gz")
    assert report["state"] == "DONE" and report["records"] == {"read": 3, "rejected": 1, "in_file": 3}
    assert sandbox.files.keys("work/") == []


# --- the file path: generated input --------------------------------------------------------------

@st.composite
def files(draw) -> list[tuple[str, bytes, list[Specimen] | None]]:
    ids = iter(draw(st.lists(st.integers(min_value=0, max_value=10 ** 9), min_size=30, max_size=30, unique=True)))
    made = []
    for number in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["jsonl", "json", "csv"]))
        if draw(st.integers(0, 4)) == 0:  # raw bytes: refused whole, or read record by record
            made.append((f"incoming/raw-{number}.{kind}", draw(st.binary(max_size=2000)), None))
            continue
        count = draw(st.integers(min_value=1, max_value=8))
        if kind == "csv":
            rows = [draw(csv_rows(f"user-{next(ids)}")) for _ in range(count)]
            content = (",".join(CSV_HEADER) + "\r\n" + "".join(r.text + "\r\n" for r in rows)).encode()
        else:
            rows = [draw(specimens(f"user-{next(ids)}")) for _ in range(count)]
            content = jsonl(*(r.text for r in rows)) if kind == "jsonl" else json_array(*(r.text for r in rows))
        compressed = draw(st.booleans())
        key = f"incoming/generated-{number}.{kind}" + (".gz" if compressed else "")
        made.append((key, gzip.compress(content) if compressed else content, rows))
    return made


@settings(max_examples=SANDBOX_EXAMPLES)
@given(files())
def test_generated_hostile_files_each_record_ends_delivered_or_rejected_alone_with_its_line(running_sandbox, drawn):
    sandbox = running_sandbox
    sandbox.reset()
    for key, content, _ in drawn:
        sandbox.files.upload(key, content)
    ingest(sandbox)
    failures = envelopes(sandbox)
    for key, _, rows in drawn:
        report = sandbox.files.report(key)
        if rows is None:
            assert report["state"] in ("DONE", "FAILED") and report["records"]["read"] == report["records"]["in_file"]
            continue
        assert report["state"] == "DONE", report
        first_line = 2 if ".csv" in key else 1
        for number, row in enumerate(rows):
            if row.good:
                assert_delivered(sandbox, row.user_id, failures)
                continue
            # JSON arrays put one element a line after the "[" line; JSON Lines and CSV rows, one a line.
            line = number + (2 if ".json" in key and ".jsonl" not in key else first_line)
            failure = rejected_alone(failures, kind="s3", key=key, line=line)
            assert failure["error"].get("field") == row.field
        assert report["records"]["rejected"] == sum(not r.good for r in rows)


# --- the file function given S3's own event ------------------------------------------------------

def test_the_file_function_takes_s3s_own_event_not_wrapped_in_sqs(sandbox):
    key = "incoming/direct.csv"
    version = sandbox.files.upload(key, b"user_id,age:int\ndirect-1,30\n")
    sandbox.stack.client("sqs").purge_queue(QueueUrl=sandbox.queue_url("FileEventsQueue"))
    event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                          "eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": sandbox.files.bucket},
                                 "object": {"key": "incoming/direct.csv", "versionId": version, "size": 28}}}]}
    answer = sandbox.handler("ingest_file")(event, LocalLambdaContext("usersync-ingest-file"))  # was KeyError('messageId')
    assert [result["state"] for result in answer["ingested"]] == ["RUNNING"]
    ingest(sandbox)
    assert sandbox.files.report(key)["state"] == "DONE" and sandbox.batch.profile("ios", "direct-1")
    broken = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}  # no s3.object.key
    [refused] = sandbox.handler("ingest_file")(broken, LocalLambdaContext("usersync-ingest-file"))["ingested"]
    assert "s3.object.key" in refused["error"]
