"""The deliver function end to end: SQS -> handler -> Batch simulator -> DynamoDB / failed-records queue."""

import json

import pytest

from usersync_dev.local.pump import LocalLambdaContext, sqs_event
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration


def body(*records, envelope=False) -> str:
    return json.dumps({"records": list(records)} if envelope else list(records))


def batch_apps_only(sandbox):
    """The sandbox config without its CleverTap and audience destinations (tests of Custom Data alone)."""
    sandbox.put_config({"destinations": {name: settings for name, settings in sandbox.config["destinations"].items()
                                         if settings["type"] == "batch"}})


VINCENT = {
    "user_id": "vincent-42",
    "attributes": {
        "nickname": "Vincent", "age": 55, "level_progress": 45.09, "is_subscribed": True, "referrer": None,
        "last_purchase": {"$date": "2016-01-10T10:00:00"}, "signup": {"$date": 1472656161},
        "avatar": {"$url": "https://cdn.example.com/u/42.png"}, "hobbies": ["cooking", "chess"],
        "locations": {"$add": ["Paris", "Rome"], "$remove": ["Berlin"]},
    },
}


def test_records_reach_every_batch_app_and_the_final_profile_is_what_the_record_says(sandbox):
    batch_apps_only(sandbox)
    sandbox.publish([body(VINCENT), body({"user_id": "vincent-42", "attributes": {"locations": {"$remove": ["Rome"]}}})])
    stats = sandbox.deliver_pump().drain()
    assert stats.failed_messages == 0
    for app in ("ios", "android"):
        assert sandbox.batch.profile(app, "vincent-42") == {
            "attributes": {"nickname": "Vincent", "age": 55, "level_progress": 45.09, "is_subscribed": True,
                           "last_purchase": "2016-01-10T10:00:00", "signup": "2016-08-31T15:09:21",
                           "avatar": "https://cdn.example.com/u/42.png"},
            "attribute_types": {"nickname": "string", "age": "integer", "level_progress": "float",
                                "is_subscribed": "boolean", "last_purchase": "date", "signup": "date", "avatar": "url"},
            "tags": {"hobbies": ["chess", "cooking"], "locations": ["Paris"]},
        }
    assert sandbox.failed_records() == []


def test_every_token_is_saved_with_destination_count_source_and_time(sandbox):
    batch_apps_only(sandbox)
    ids = sandbox.publish([body(*({"user_id": f"u{i}", "attributes": {"n": i}} for i in range(3)))])
    sandbox.deliver_pump().drain()
    tokens = sandbox.tokens()
    assert sorted(t["destination"] for t in tokens) == ["batch_android", "batch_ios"]
    simulator_tokens = {t["token"] for t in sandbox.batch.tokens}
    for token in tokens:
        assert token["token"] in simulator_tokens
        assert token["record_count"] == 3 and token["vendor"] == "batch"
        assert token["sources"] == [f"sqs message {ids[0]} record {i}" for i in range(3)]
        assert token["created_at"].startswith("20") and token["expires_at"] > 0


def test_one_bad_record_goes_to_the_failed_records_queue_and_its_neighbours_are_delivered(sandbox):
    [message_id] = sandbox.publish([body({"user_id": "good-1", "attributes": {"a": 1}},
                                         {"user_id": "bad", "attributes": {"when": {"$date": "someday"}}},
                                         {"user_id": "good-2", "attributes": {"a": 2}}, envelope=True)])
    stats = sandbox.deliver_pump().drain()
    assert stats.failed_messages == 0
    assert sandbox.batch.profile("ios", "good-1") and sandbox.batch.profile("ios", "good-2")
    assert sandbox.batch.profile("ios", "bad") is None
    [failure] = sandbox.failed_records()
    assert failure["record"] == {"user_id": "bad", "attributes": {"when": {"$date": "someday"}}}
    assert failure["error"]["code"] == "INVALID_RECORD" and failure["error"]["field"] == "attributes.when"
    assert failure["source"] == {"kind": "sqs", "message_id": message_id, "index": 1}
    assert failure["destination"] is None and failure["retryable"] is False


def test_a_record_batch_cannot_take_is_rejected_per_destination_with_the_reason(sandbox):
    batch_apps_only(sandbox)
    sandbox.publish([body({"user_id": "alan", "attributes": {"points": {"$incr": 1}}})])
    sandbox.deliver_pump().drain()
    failures = sandbox.failed_records()
    assert sorted(f["destination"] for f in failures) == ["batch_android", "batch_ios"]
    assert {f["error"]["code"] for f in failures} == {"UNSUPPORTED_OPERATION"}


def test_a_transient_failure_hands_back_exactly_the_message_it_touched(sandbox):
    config = {"destinations": {"batch_ios": {**sandbox.config["destinations"]["batch_ios"], "batch_size": 1,
                                             "concurrency": 1, "max_attempts": 2, "backoff_base_s": 0.01}}}
    sandbox.put_config(config)
    ids = sandbox.publish([body({"user_id": f"user-{i}", "attributes": {"n": i}}) for i in range(3)])
    sqs = sandbox.stack.client("sqs")
    messages = sqs.receive_message(QueueUrl=sandbox.queue_url("WorkQueue"), MaxNumberOfMessages=10,
                                   AttributeNames=["All"])["Messages"]
    assert [m["MessageId"] for m in messages] == ids
    sandbox.batch.inject(Fault.status(503), times=2)  # both attempts of the first call

    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:usersync-work-queue", "us-east-1")
    response = sandbox.handler("deliver")(event, LocalLambdaContext("usersync-deliver"))

    assert response == {"batchItemFailures": [{"itemIdentifier": ids[0]}]}
    assert sandbox.batch.profile("ios", "user-0") is None
    assert sandbox.batch.profile("ios", "user-1") and sandbox.batch.profile("ios", "user-2")
    assert sandbox.failed_records() == []  # retried, not failed


def test_a_5xx_is_retried_by_sqs_and_then_delivered(sandbox):
    sandbox.put_config({"destinations": {"batch_ios": {**sandbox.config["destinations"]["batch_ios"],
                                                       "max_attempts": 2, "backoff_base_s": 0.01}}})
    sandbox.publish([body({"user_id": "retry-me", "attributes": {"a": 1}})])
    sandbox.batch.inject(Fault.status(500), times=2)  # one invocation's attempts
    stats = sandbox.deliver_pump().drain()
    assert stats.failed_messages == 1 and stats.invocations == 2
    assert sandbox.batch.profile("ios", "retry-me")["attributes"] == {"a": 1}
    assert sandbox.failed_records() == []


def test_a_4xx_sends_the_records_to_the_failed_records_queue_with_batch_error_code(sandbox):
    sandbox.put_config({"destinations": {"batch_ios": sandbox.config["destinations"]["batch_ios"]}})
    sandbox.publish([body({"user_id": "u1", "attributes": {"a": 1}}, {"user_id": "u2", "attributes": {"a": 2}})])
    sandbox.batch.inject(Fault.status(400), times=3)  # the bulk, then each record alone (bisecting)
    stats = sandbox.deliver_pump().drain()
    assert stats.failed_messages == 0  # a 4xx is not retried
    assert len(sandbox.batch.calls) == 3
    failures = sandbox.failed_records()
    assert sorted(f["record"]["user_id"] for f in failures) == ["u1", "u2"]
    for failure in failures:
        assert failure["error"]["code"] == "VENDOR_REJECTED" and failure["error"]["vendor_status"] == 400
        assert failure["error"]["vendor_code"] and failure["destination"] == "batch_ios"


def test_a_wrong_rest_key_is_a_401_marked_retryable_after_a_config_fix(sandbox):
    sandbox.stack.client("ssm").put_parameter(Name="/usersync/secrets/batch_rest_key", Value="not-the-key-0000",
                                              Type="SecureString", Overwrite=True)
    sandbox.put_config({"destinations": {"batch_ios": sandbox.config["destinations"]["batch_ios"]}})
    sandbox.publish([body({"user_id": "u1", "attributes": {"a": 1}})])
    # A warm function keeps its clients: a fresh handler reads the changed secret, as a new container would.
    sandbox.cold_start()
    handler = sandbox.handler("deliver")
    messages = sandbox.stack.client("sqs").receive_message(QueueUrl=sandbox.queue_url("WorkQueue"))["Messages"]
    handler(sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1"), LocalLambdaContext("f"))
    [failure] = sandbox.failed_records()
    assert failure["error"]["vendor_status"] == 401 and failure["error"]["vendor_code"] == "AUTHENTICATION_INVALID"
    assert failure["retryable"] is True


def test_the_sample_event_in_events_is_accepted(sandbox, repo_root):
    event = json.loads((repo_root / "events" / "deliver" / "sqs-batch.json").read_text())
    response = sandbox.handler("deliver")(event, LocalLambdaContext("usersync-deliver"))
    assert response == {"batchItemFailures": []}
    assert sandbox.batch.profile("ios", "vincent-42")


def test_the_event_sam_generates_is_accepted_and_its_non_json_body_reported(sandbox, sam_generated_sqs_event):
    response = sandbox.handler("deliver")(sam_generated_sqs_event, LocalLambdaContext("usersync-deliver"))
    assert response == {"batchItemFailures": []}
    [failure] = sandbox.failed_records()
    assert failure["error"]["code"] == "INVALID_MESSAGE" and failure["record"] == "Hello from SQS!"
