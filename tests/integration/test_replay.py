"""`usersync replay` against the local stack: failed records go back through the normal pipeline after
a fix, filtered by destination or error code; poison messages go back to the work queue."""

import json

import pytest
from typer.testing import CliRunner

from usersync_dev.cli import app, commands  # noqa: F401 - registers the commands
from usersync_dev.local.pump import LocalLambdaContext, sqs_event
from usersync_dev.local.sandbox import default_config
from usersync_dev.replay import replay_key, ReplayFilter, replay_body
from usersync.replays import DEFAULT_KEY_PARAMETER, ORIGINAL_MESSAGE_ID, REPLAY_SIGNATURE, signature

pytestmark = pytest.mark.integration
runner = CliRunner()


def replay(sandbox, *args: str):
    # The command line reads a kept local stack with fixed local keys: `usersync run --keep` opens it so.
    with sandbox.stack.unchecked():
        return runner.invoke(app, ["replay", "--endpoint-url", sandbox.stack.endpoint_url, *args])


def batch_ios(sandbox, api_key_reference=None):
    settings = dict(default_config()["destinations"]["batch_ios"])
    if api_key_reference:
        settings["api_key"] = api_key_reference
    sandbox.put_config({"destinations": {"batch_ios": settings}})
    sandbox.cold_start()  # a new Lambda instance: pacing learnt by earlier tests is gone


def test_a_failed_record_is_delivered_by_replay_after_its_destination_config_is_fixed(sandbox):
    # the config names a parameter that holds no app's key: Batch answers 401
    sandbox.stack.client("ssm").put_parameter(Name="/usersync/secrets/not_an_app_key", Value="0" * 32,
                                              Type="SecureString", Overwrite=True)
    batch_ios(sandbox, api_key_reference="ssm:/usersync/secrets/not_an_app_key")
    good = {"user_id": "grace", "attributes": {"plan": "pro"}}
    invalid = {"user_id": "bad", "attributes": {"when": {"$date": "someday"}}}
    sandbox.publish([json.dumps([good, invalid])])
    sandbox.deliver_pump().drain()
    failures = sandbox.failed_records()
    assert sorted(((f["destination"] or "", f["error"]["code"]) for f in failures)) == \
        [("", "INVALID_RECORD"), ("batch_ios", "VENDOR_REJECTED")]
    rejected = next(f for f in failures if f["destination"])
    assert rejected["error"]["vendor_status"] == 401 and rejected["retryable"] is True

    batch_ios(sandbox)  # the fix: the right key reference
    result = replay(sandbox, "--destination", "batch_ios")
    assert result.exit_code == 0, result.output
    assert "1 replayed, 1 left" in result.output

    assert [f["error"]["code"] for f in sandbox.failed_records()] == ["INVALID_RECORD"]  # not matching: kept
    [body] = sandbox.queue_bodies("WorkQueue")
    assert json.loads(body) == {**good, "destinations": ["batch_ios"]}  # narrowed to where it failed
    stats = sandbox.deliver_pump().drain()
    assert stats.failed_messages == 0
    assert sandbox.batch.profile("ios", "grace")["attributes"] == {"plan": "pro"}
    assert [f["error"]["code"] for f in sandbox.failed_records()] == ["INVALID_RECORD"]


def test_replay_filters_by_error_code_and_dry_run_sends_nothing(sandbox):
    batch_ios(sandbox)
    sandbox.publish([json.dumps({"user_id": "alan", "attributes": {"points": {"$incr": 1}}}), "not json"])
    sandbox.deliver_pump().drain()
    assert sorted(f["error"]["code"] for f in sandbox.failed_records()) == ["INVALID_MESSAGE", "UNSUPPORTED_OPERATION"]

    dry = replay(sandbox, "--code", "invalid_message", "--dry-run")
    assert dry.exit_code == 0 and "1 would be replayed" in dry.output
    assert sandbox.queue_bodies("WorkQueue") == [] and len(sandbox.failed_records()) == 2

    result = replay(sandbox, "--code", "INVALID_MESSAGE")
    assert result.exit_code == 0 and "1 replayed" in result.output
    assert sandbox.queue_bodies("WorkQueue") == ["not json"]  # the body as it came
    assert [f["error"]["code"] for f in sandbox.failed_records()] == ["UNSUPPORTED_OPERATION"]


def test_poison_messages_go_back_to_the_work_queue_under_their_first_id(sandbox):
    batch_ios(sandbox)
    [poison_id] = sandbox.publish([json.dumps({"user_id": "p", "attributes": {"a": 1}})], queue="WorkDeadLetterQueue")
    result = replay(sandbox, "--poison")
    assert result.exit_code == 0 and "Poison messages: 1 replayed" in result.output
    assert sandbox.queue_bodies("WorkDeadLetterQueue") == []
    [message] = sandbox.stack.client("sqs").receive_message(
        QueueUrl=sandbox.queue_url("WorkQueue"), MessageAttributeNames=["All"], VisibilityTimeout=0)["Messages"]
    assert message["MessageAttributes"][ORIGINAL_MESSAGE_ID]["StringValue"] == poison_id
    sandbox.deliver_pump().drain()
    assert sandbox.batch.profile("ios", "p")


def resend(sandbox, body, attributes):
    """`body` back on WorkQueue with `attributes`, delivered by the deliver handler at once."""
    sqs = sandbox.stack.client("sqs")
    sqs.send_message(QueueUrl=sandbox.queue_url("WorkQueue"), MessageBody=body, MessageAttributes=attributes)
    messages = sqs.receive_message(QueueUrl=sandbox.queue_url("WorkQueue"), MessageAttributeNames=["All"])["Messages"]
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:usersync-work-queue", "us-east-1")
    return sandbox.handler("deliver")(event, LocalLambdaContext("usersync-deliver"))


def test_a_replayed_message_skips_what_it_delivered_under_its_first_id(sandbox):
    """The ledger knows a unit by its first message id: what was accepted then is not sent again."""
    batch_ios(sandbox)
    body = json.dumps([{"user_id": "a", "attributes": {"n": 1}}])
    [first_id] = sandbox.publish([body])
    sandbox.deliver_pump().drain()
    key = replay_key(sandbox.stack.client("ssm"), DEFAULT_KEY_PARAMETER)  # what `usersync replay` signs with
    assert resend(sandbox, body, {
        ORIGINAL_MESSAGE_ID: {"DataType": "String", "StringValue": first_id},
        REPLAY_SIGNATURE: {"DataType": "String", "StringValue": signature(key, first_id, body)},
    }) == {"batchItemFailures": []}
    assert len(sandbox.batch.calls) == 1  # the first delivery only


@pytest.mark.parametrize("signed", ["unsigned", "signed for another body", "key never created"])
def test_a_forged_original_message_id_is_ignored_and_the_records_delivered(sandbox, signed):
    """Issue F.7: a producer naming another message's id must not get its records skipped."""
    batch_ios(sandbox)
    [first_id] = sandbox.publish([json.dumps([{"user_id": "a", "attributes": {"n": 1}}])])
    sandbox.deliver_pump().drain()
    forged_body = json.dumps([{"user_id": "b", "attributes": {"n": 2}}])
    attributes = {ORIGINAL_MESSAGE_ID: {"DataType": "String", "StringValue": first_id}}
    if signed == "signed for another body":
        key = replay_key(sandbox.stack.client("ssm"), DEFAULT_KEY_PARAMETER)
        attributes[REPLAY_SIGNATURE] = {"DataType": "String", "StringValue": signature(key, first_id, "[]")}
    elif signed == "key never created":
        attributes[REPLAY_SIGNATURE] = {"DataType": "String", "StringValue": "0" * 64}
    assert resend(sandbox, forged_body, attributes) == {"batchItemFailures": []}
    assert sandbox.batch.profile("ios", "b") is not None  # delivered as the new message it is
    assert len(sandbox.batch.calls) == 2


def test_a_cut_record_is_not_replayable_and_a_filter_can_keep_to_retryable_ones():
    with pytest.raises(ValueError, match="cut"):
        replay_body({"version": 1, "record": {"truncated": True, "prefix": "{..."}, "destination": "x",
                     "error": {"code": "VENDOR_REJECTED"}})
    only = ReplayFilter(retryable_only=True)
    assert only.matches({"retryable": True, "error": {"code": "X"}}) and not only.matches({"retryable": False})


def test_a_record_too_large_for_its_envelope_is_read_back_from_s3_and_delivered_by_replay(sandbox):
    batch_ios(sandbox, api_key_reference="ssm:/usersync/secrets/not_an_app_key")
    sandbox.stack.client("ssm").put_parameter(Name="/usersync/secrets/not_an_app_key", Value="0" * 32,
                                              Type="SecureString", Overwrite=True)
    # A record 150 bytes short of a message's 256 KiB: it fits WorkQueue, its envelope would not.
    overhead = len(json.dumps({"user_id": "long-bio", "attributes": {"bio": ""}}).encode())
    record = {"user_id": "long-bio", "attributes": {"bio": "é" * ((262_144 - 150 - overhead) // 2)}}
    sandbox.publish([json.dumps(record, ensure_ascii=False)])
    sandbox.deliver_pump().drain()
    [body] = sandbox.queue_bodies("FailedRecordsQueue")
    assert len(body.encode()) <= 262_144  # with the record inside, the envelope would not be
    envelope = json.loads(body)
    assert envelope["record"] is None and envelope["error"]["vendor_status"] == 401
    where = envelope["record_s3"]
    assert where["bucket"] == sandbox.files.bucket and where["key"].startswith("failed-records/")

    batch_ios(sandbox)  # the fix
    result = replay(sandbox, "--destination", "batch_ios")
    assert result.exit_code == 0 and "1 replayed" in result.output, result.output
    sandbox.deliver_pump().drain()
    assert sandbox.batch.profile("ios", "long-bio")["attributes"]["bio"] == record["attributes"]["bio"]
    assert sandbox.failed_records() == []


def test_a_record_in_s3_too_large_for_the_work_queue_is_left_with_a_reason():
    envelope = {"version": 1, "record": None, "record_s3": {"bucket": "b", "key": "failed-records/x.json"},
                "destination": "batch_ios", "error": {"code": "VENDOR_REJECTED"}}
    large = json.dumps({"user_id": "u", "attributes": {"bio": "x" * 300_000}}).encode()
    with pytest.raises(ValueError, match="more than a WorkQueue message holds"):
        replay_body(envelope, lambda bucket, key: large)
    with pytest.raises(ValueError, match="needs access to S3"):
        replay_body(envelope)
    with pytest.raises(ValueError, match="cannot be read back"):
        replay_body(envelope, lambda bucket, key: (_ for _ in ()).throw(KeyError(key)))
    assert json.loads(replay_body(envelope, lambda bucket, key: b'{"user_id": "u"}')) == {
        "user_id": "u", "destinations": ["batch_ios"]}
