"""S3 files end to end: upload -> S3 notification (moto) -> FileEventsQueue -> file function ->
ChunkQueue -> chunk function -> vendor simulators; jobs, reports and failed records."""

from __future__ import annotations

import copy
import gzip
import json

import pytest

from usersync_dev.local.pump import LocalLambdaContext, sqs_event
from usersync_dev.local.sandbox import LocalSandbox

pytestmark = pytest.mark.integration

ROWS_PER_CHUNK = 3  # small, so a ten-line file is several chunks


@pytest.fixture(scope="module")
def running_sandbox():
    with LocalSandbox(environment={"ROWS_PER_CHUNK": str(ROWS_PER_CHUNK)}) as sandbox:
        yield sandbox


BATCH = ("batch_android", "batch_ios")


def profiles_config(sandbox):
    """Only the two Batch apps: every profile row goes to both."""
    return {"destinations": {name: sandbox.config["destinations"][name] for name in BATCH}}


def csv_file(rows: int, start: int = 0) -> str:
    lines = ["user_id,nickname,age:int,hobbies:tags"]
    lines += [f'user-{i},"Name, {i}",{20 + i},chess|go' for i in range(start, start + rows)]
    return "\r\n".join(lines) + "\r\n"


def assert_counts_add_up(report, rows_in_file):
    assert report["state"] == "DONE"
    assert report["records"]["read"] == report["records"]["in_file"] == rows_in_file
    for name, counts in report["destinations"].items():
        assert counts["delivered"] + counts["rejected"] + report["records"]["rejected"] == rows_in_file, name


def test_a_file_larger_than_one_chunk_is_delivered_in_chunks_and_reported(sandbox):
    sandbox.put_config(profiles_config(sandbox))
    sandbox.files.upload("incoming/users.csv", csv_file(10))
    stats = sandbox.files.run()
    assert stats.chunk_invocations == 4 and stats.chunk_retries == 0  # (file invocations: + S3's test event)
    for app in ("ios", "android"):
        assert sandbox.batch.users_count(app) == 10
        assert sandbox.batch.profile(app, "user-7") == {
            "attributes": {"nickname": "Name, 7", "age": 27}, "attribute_types": {"nickname": "string", "age": "integer"},
            "tags": {"hobbies": ["chess", "go"]}}
    report = sandbox.files.report("incoming/users.csv")
    assert_counts_add_up(report, 10)
    assert report["chunks"] == {"total": 4, "done": 4}
    assert {name: c["delivered"] for name, c in report["destinations"].items()} == {n: 10 for n in BATCH}
    # Every Batch call's token is in the report, and nothing is left under work/ or re-ingested.
    assert sorted(t for c in report["destinations"].values() for t in c["tokens"]) == sorted(
        t["token"] for t in sandbox.batch.tokens)
    assert sandbox.files.keys("reports/") == [report_key(sandbox, "incoming/users.csv")]
    assert sandbox.queue_bodies("FileEventsQueue") == [] and sandbox.files.keys("work/") == []


def report_key(sandbox, key):
    return sandbox.files.job(key)["report"]


def test_bad_rows_go_to_the_failed_records_queue_with_their_line_and_field_and_good_rows_are_delivered(sandbox):
    sandbox.put_config(profiles_config(sandbox))
    body = ("user_id,age:int,signup:date\n"
            "good-1,30,2016-01-10\n"
            "bad-age,thirty,\n"
            ",31,\n"
            "good-2,32,1472656161\n"
            "bad-date,33,someday\n"
            "good-3,34,\n")
    sandbox.files.upload("incoming/with bad rows.csv", body)
    sandbox.files.run()
    assert sorted(p for p in ("good-1", "good-2", "good-3") if sandbox.batch.profile("ios", p)) == ["good-1", "good-2", "good-3"]
    failures = sorted(sandbox.failed_records(), key=lambda f: f["source"]["line"])
    assert [(f["source"]["line"], f["error"]["code"], f["error"]["field"], f["destination"]) for f in failures] == [
        (3, "INVALID_RECORD", "attributes.age", None),
        (4, "INVALID_RECORD", "user_id", None),
        (6, "INVALID_RECORD", "attributes.signup", None),
    ]
    for failure in failures:
        assert failure["source"]["bucket"] == sandbox.files.bucket
        assert failure["source"]["key"] == "incoming/with bad rows.csv" and failure["source"]["kind"] == "s3"
    assert failures[0]["record"] == {"user_id": "bad-age", "age:int": "thirty", "signup:date": ""}
    report = sandbox.files.report("incoming/with bad rows.csv")
    assert_counts_add_up(report, 6)
    assert report["records"]["rejected"] == 3 and report["errors"] == {"INVALID_RECORD": 3}


def test_a_duplicate_s3_notification_is_ingested_once(sandbox):
    sandbox.put_config(profiles_config(sandbox))
    sandbox.files.upload("incoming/once.csv", csv_file(2))
    sqs, url = sandbox.stack.client("sqs"), sandbox.queue_url("FileEventsQueue")
    notifications = [b for b in sandbox.queue_bodies("FileEventsQueue") if "Records" in json.loads(b)]
    assert len(notifications) == 1
    sqs.send_message(QueueUrl=url, MessageBody=notifications[0])  # S3 delivers at least once
    stats = sandbox.files.run()
    assert stats.chunk_invocations == 1
    assert len(sandbox.batch.tokens) == 2  # one call per Batch app, not two
    assert len(sandbox.files.jobs().jobs_of(sandbox.files.bucket, "incoming/once.csv")) == 1


def test_a_chunk_processed_twice_is_not_sent_twice_and_counted_once(sandbox):
    sandbox.put_config(profiles_config(sandbox))
    sandbox.files.upload("incoming/twice.csv", csv_file(5))
    sandbox.files.file_pump().drain()
    sqs, url = sandbox.stack.client("sqs"), sandbox.queue_url("ChunkQueue")
    first_chunk = json.loads(sandbox.queue_bodies("ChunkQueue")[0])
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(first_chunk))  # a redelivered chunk job
    stats = sandbox.files.run()
    assert stats.chunk_invocations == 3
    assert len(sandbox.batch.tokens) == 4  # 2 chunks × 2 apps: the duplicate sent nothing
    report = sandbox.files.report("incoming/twice.csv")
    assert_counts_add_up(report, 5)
    assert {c["delivered"] for c in report["destinations"].values()} == {5}


def test_jsonl_json_array_and_gzip_files(sandbox):
    sandbox.put_config(profiles_config(sandbox))
    records = [{"user_id": f"j{i}", "attributes": {"n": i}} for i in range(7)]
    sandbox.files.upload("incoming/a.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    sandbox.files.upload("incoming/b.json", json.dumps(records, indent=2))
    sandbox.files.upload("incoming/c.csv.gz", gzip.compress(csv_file(7, start=100).encode()))
    sandbox.files.upload("incoming/d.jsonl.gz", gzip.compress(b"\n".join(json.dumps(r).encode() for r in records)))
    sandbox.files.run()
    for key in ("incoming/a.jsonl", "incoming/b.json", "incoming/c.csv.gz", "incoming/d.jsonl.gz"):
        report = sandbox.files.report(key)
        assert_counts_add_up(report, 7)
        assert report["chunks"]["total"] == 3, key
    assert sandbox.batch.profile("android", "user-106")["attributes"]["age"] == 126
    assert sandbox.files.keys("work/") == []  # the gzip files' plain parts are deleted once delivered


def test_a_file_that_is_not_utf8_is_refused_whole_with_a_report_naming_it(sandbox):
    sandbox.files.upload("incoming/latin1.csv", "user_id,name\nu1,André\n".encode("latin-1"))
    sandbox.files.run()
    report = sandbox.files.report("incoming/latin1.csv")
    assert report["state"] == "FAILED"
    assert "incoming/latin1.csv line 2 is not UTF-8" in report["error"]
    sandbox.files.upload("incoming/broken.csv.gz", gzip.compress(csv_file(50).encode())[:-30])  # cut short, after parts
    sandbox.files.upload("incoming/sheet.xlsx", b"PK\x03\x04")
    sandbox.files.run()
    assert "incoming/broken.csv.gz is not a valid gzip file" in sandbox.files.report("incoming/broken.csv.gz")["error"]
    assert "unsupported file type" in sandbox.files.report("incoming/sheet.xlsx")["error"]
    assert sandbox.batch.tokens == [] and sandbox.failed_records() == []
    assert sandbox.files.keys("work/") == []


def test_only_the_ingest_prefix_triggers_reports_never_re_trigger_and_keys_are_decoded(sandbox):
    sandbox.files.upload("elsewhere/users.csv", csv_file(1))
    sandbox.files.upload("reports/fake.json", "{}")
    assert [b for b in sandbox.queue_bodies("FileEventsQueue") if "Records" in json.loads(b)] == []
    key = "incoming/dossier été/utilisateurs 2026+1 ✓.csv"  # spaces, unicode and a literal '+'
    sandbox.files.upload(key, csv_file(1))
    sandbox.files.run()
    assert sandbox.files.report(key)["state"] == "DONE"
    assert sandbox.files.keys("reports/dossier") == [
        f"reports/dossier été/utilisateurs 2026+1 ✓.csv/{sandbox.files.job(key)['version']}.json"]
    assert [b for b in sandbox.queue_bodies("FileEventsQueue") if "Records" in json.loads(b)] == []


def test_the_handlers_accept_the_sample_events(sandbox, repo_root):
    """events/ingest_file and events/deliver_chunk, pointed at the object uploaded here."""
    sandbox.put_config(profiles_config(sandbox))
    key = "incoming/users 2026 été.csv"
    version_id = sandbox.files.upload(key, (repo_root / "events" / "ingest_file" / "users 2026 été.csv").read_bytes())
    # The notification moto sent is dropped: the sample event stands for it.
    sandbox.stack.client("sqs").purge_queue(QueueUrl=sandbox.queue_url("FileEventsQueue"))

    test_event = json.loads((repo_root / "events" / "ingest_file" / "s3-test-event.json").read_text())
    assert sandbox.handler("ingest_file")(test_event, LocalLambdaContext("usersync-ingest-file")) == {"batchItemFailures": []}

    event = json.loads((repo_root / "events" / "ingest_file" / "s3-object-created.json").read_text())
    notification = json.loads(event["Records"][0]["body"])
    notification["Records"][0]["s3"]["object"]["versionId"] = version_id
    event["Records"][0]["body"] = json.dumps(notification)
    assert sandbox.handler("ingest_file")(event, LocalLambdaContext("usersync-ingest-file")) == {"batchItemFailures": []}

    chunk_event = json.loads((repo_root / "events" / "deliver_chunk" / "chunk-job.json").read_text())
    job = json.loads(chunk_event["Records"][0]["body"])
    job["object_version"] = job["job_version"] = version_id
    chunk_event["Records"][0]["body"] = json.dumps(job)
    assert sandbox.handler("deliver_chunk")(chunk_event, LocalLambdaContext("usersync-deliver-chunk")) == {
        "batchItemFailures": []}
    assert sandbox.batch.profile("ios", "ada-1815")["attributes"] == {"nickname": "Lovelace, Ada", "age": 36}

    sandbox.files.run()  # the chunk job the file function queued is the same chunk: nothing is sent again
    assert len(sandbox.batch.tokens) == 2
    report = sandbox.files.report(key)
    assert report["version"] == version_id
    assert_counts_add_up(report, 2)


def test_the_cli_shows_a_files_job_and_its_report(sandbox):
    from typer.testing import CliRunner

    from usersync_dev.cli import app
    from usersync_dev.cli import commands  # noqa: F401 - registers the commands

    sandbox.put_config(profiles_config(sandbox))
    sandbox.files.upload("incoming/cli users.csv", csv_file(4) + "bad,x\n")
    sandbox.files.run()
    runner = CliRunner()

    def job(*args: str):
        # The command line reads a kept local stack with fixed local keys: `usersync run --keep` opens it so.
        with sandbox.stack.unchecked():
            return runner.invoke(app, ["job", *args, "--endpoint-url", sandbox.stack.endpoint_url])

    shown = job("cli users.csv")
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.output.split())  # the table wraps to the terminal's width
    assert "incoming/cli users.csv" in flat and "DONE" in flat and "batch_ios" in flat
    as_json = job(f"s3://{sandbox.files.bucket}/incoming/cli users.csv", "--json")
    job_summary = json.loads(as_json.output)
    assert job_summary["records"] == {"read": 5, "rejected": 1, "in_file": 5}
    report = json.loads(job("incoming/cli users.csv", "--report").output)
    assert report["destinations"]["batch_ios"]["delivered"] == 4
    missing = job("incoming/nothing.csv")
    assert missing.exit_code == 1 and "no job" in missing.output
