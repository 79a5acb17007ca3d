"""S3 notifications as SQS delivers them: real S3 records, moto's leaner ones, test events, keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usersync.ingest.chunk_jobs import ChunkJob
from usersync.ingest.notifications import NotANotification, ObjectVersion, objects_in_message
from usersync.settings import IngestFileSettings

EVENTS = Path(__file__).resolve().parents[2] / "events"


def body_of(path: str) -> str:
    (record,) = json.loads((EVENTS / path).read_text(encoding="utf-8"))["Records"]
    return record["body"]


def test_a_real_s3_record_gives_the_object_version_with_its_key_decoded():
    (version,) = objects_in_message(body_of("ingest_file/s3-object-created.json"))
    assert version == ObjectVersion(
        bucket="usersync-ingest-bucket", key="incoming/users 2026 été.csv",
        version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", etag="e18f324f413e9cae282d1c1746eed4aa", size=111,
        sequencer="0055AED6DCD90281E5")
    assert version.idempotency_data() == {"bucket": "usersync-ingest-bucket", "key": "incoming/users 2026 été.csv",
                                          "version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"}


def test_the_s3_test_event_is_skipped():
    assert objects_in_message(body_of("ingest_file/s3-test-event.json")) == []


def test_a_lean_moto_record_without_version_or_sequencer_is_accepted_and_named_by_its_etag():
    body = json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
               "object": {"key": "incoming%2Fmy+file+%C3%A9.csv", "size": 10, "eTag": "62aa78"}}}]})
    (version,) = objects_in_message(body)
    assert version.key == "incoming/my file é.csv" and version.version_id is None
    assert version.identity == "etag-62aa78"


def test_deletions_create_nothing_to_ingest():
    body = json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
                                    "s3": {"bucket": {"name": "b"}, "object": {"key": "incoming/a.csv"}}}]})
    assert objects_in_message(body) == []


@pytest.mark.parametrize("body", ["not json", "[]", '{"hello": 1}', '{"Records": [{"eventSource": "aws:sqs"}]}',
                                  '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}'])
def test_anything_else_is_not_a_notification(body):
    with pytest.raises(NotANotification):
        objects_in_message(body)


def test_the_chunk_job_event_is_a_valid_chunk_job():
    job = ChunkJob.model_validate_json(body_of("deliver_chunk/chunk-job.json"))
    assert job.key == "incoming/users 2026 été.csv" and job.kind == "csv" and job.first_line == 2
    assert job.chunk_id == "usersync-ingest-bucket/incoming/users 2026 été.csv@3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY#0"


BASE = {"STATE_TABLE": "t", "DESTINATIONS_CONFIG": "/usersync/destinations", "FAILED_RECORDS_QUEUE_URL": "q",
        "CHUNK_QUEUE_URL": "c", "IDEMPOTENCY_TABLE": "i"}


def test_prefixes_that_would_re_trigger_ingestion_are_refused():
    assert IngestFileSettings.from_environment(BASE).ingest_prefix == "incoming/"
    with pytest.raises(RuntimeError, match="must not overlap"):
        IngestFileSettings.from_environment({**BASE, "INGEST_PREFIX": "reports/"})
    with pytest.raises(RuntimeError, match="must not overlap"):
        IngestFileSettings.from_environment({**BASE, "INGEST_PREFIX": "work/in/"})
    with pytest.raises(RuntimeError, match="ROWS_PER_CHUNK"):
        IngestFileSettings.from_environment({**BASE, "ROWS_PER_CHUNK": "0"})


def test_a_missing_variable_is_named_at_cold_start():
    with pytest.raises(RuntimeError, match="CHUNK_QUEUE_URL"):
        IngestFileSettings.from_environment({k: v for k, v in BASE.items() if k != "CHUNK_QUEUE_URL"})
