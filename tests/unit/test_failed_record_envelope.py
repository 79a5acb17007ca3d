"""Every failed-records envelope fits an SQS message in bytes, as real SQS counts them (moto counts
characters), and loses nothing: a record too large for it goes to S3 and the envelope points there."""

from __future__ import annotations

import json
import re

from hypothesis import given, strategies as st

from usersync.failures import FailedRecord, FailureCode
from usersync.records import Source
from usersync.stores.failed_records import MAX_ENVELOPE_BYTES, FailedRecordQueue, RecordOverflow

SQS_LIMIT = 262_144  # bytes: what real SQS refuses past, whatever moto accepts
NOT_FOR_SQS = re.compile("[\ud800-\udfff\ufffe\uffff]")  # outside XML 1.0's characters (control ones are escaped)


class FakeSqs:
    def __init__(self):
        self.bodies: list[str] = []

    def send_message_batch(self, QueueUrl, Entries):
        assert sum(len(e["MessageBody"].encode()) for e in Entries) <= SQS_LIMIT
        self.bodies += [e["MessageBody"] for e in Entries]
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


class FakeS3:
    def __init__(self):
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket, Key, Body, ContentType):
        assert ContentType == "application/json"
        self.objects[(Bucket, Key)] = Body


def failure(raw, message="the message body is not JSON", field=None, index=None) -> FailedRecord:
    return FailedRecord(raw, Source("sqs", "m-1", index=index), None, FailureCode.INVALID_MESSAGE, message, field)


def sent(*failures: FailedRecord, overflow: bool = True) -> tuple[list[dict], FakeS3]:
    sqs, s3 = FakeSqs(), FakeS3()
    queue = FailedRecordQueue("q", client=sqs, overflow=RecordOverflow("ingest", "failed-records/", s3) if overflow else None)
    queue.send(list(failures))
    for body in sqs.bodies:
        assert len(body.encode("utf-8")) <= SQS_LIMIT, "real SQS refuses this envelope"
        assert not NOT_FOR_SQS.search(body)
    return [json.loads(b) for b in sqs.bodies], s3


def test_a_262000_byte_body_of_e_acute_fits_the_queue_in_bytes_and_is_kept_whole_in_s3():
    body = "é" * 131_000  # 262,000 bytes, 131,000 characters: cut by characters it stayed 262,278 bytes
    [envelope], s3 = sent(failure(body))
    assert envelope["record"] is None and envelope["error"]["code"] == "INVALID_MESSAGE"
    where = envelope["record_s3"]
    assert where["bucket"] == "ingest" and where["key"].startswith("failed-records/")
    assert json.loads(s3.objects[(where["bucket"], where["key"])]) == body
    assert where["bytes"] == len(s3.objects[(where["bucket"], where["key"])])


def test_a_record_that_fits_stays_in_its_envelope():
    record = {"user_id": "u", "attributes": {"bio": "é" * 1000}}
    [envelope], s3 = sent(failure(record))
    assert envelope["record"] == record and "record_s3" not in envelope and s3.objects == {}


def test_without_somewhere_to_put_it_a_record_is_cut_in_bytes_and_marked():
    [envelope], _ = sent(failure('"' * 300_000), overflow=False)  # each " doubles once escaped
    assert envelope["record"]["truncated"] is True and envelope["record"]["prefix"].startswith('"')


def test_the_same_failure_written_twice_is_one_object():
    big = "x" * 300_000
    [first, second], s3 = sent(failure(big), failure(big))
    assert first["record_s3"]["key"] == second["record_s3"]["key"] and len(s3.objects) == 1


def test_a_lone_surrogate_in_a_record_is_sent_escaped_never_dropped():
    [envelope], _ = sent(failure({"user_id": "u\ud800", "n": "\uffff"}, field="user_id"))
    assert envelope["record"] == {"user_id": "u\ud800", "n": "\uffff"}


def test_a_huge_message_or_field_is_cut_so_the_record_keeps_its_place():
    [envelope], _ = sent(failure({"user_id": "u"}, message="m" * 500_000, field="attributes." + "f" * 500_000))
    assert envelope["record"] == {"user_id": "u"}
    assert len(envelope["error"]["message"]) < 2_100 and len(envelope["error"]["field"]) < 400


TEXT = st.text(max_size=50) | st.builds(lambda c, n: c * n, st.sampled_from(["é", "\"", "\\", "\ud800", "😀", "\x00"]),
                                        st.integers(min_value=0, max_value=140_000))


@given(raw=st.one_of(TEXT, st.dictionaries(st.text(max_size=5), TEXT, max_size=3)), message=TEXT, field=TEXT)
def test_any_envelope_fits_sqs_in_bytes_and_its_record_can_be_read_back(raw, message, field):
    [envelope], s3 = sent(failure(raw, message, field or None))
    if "record_s3" in envelope:
        where = envelope["record_s3"]
        assert json.loads(s3.objects[(where["bucket"], where["key"])]) == raw
    else:
        assert envelope["record"] == raw


def test_the_envelope_limit_is_the_queues():
    assert MAX_ENVELOPE_BYTES == SQS_LIMIT
