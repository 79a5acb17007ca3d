"""Delivery under vendor faults, end to end: the real deliver handler on SQS events, the vendor
simulators with faults switched on, DynamoDB (ledger, tokens) and the queues in moto.
Counts and calls are asserted, never timings."""

import json
import math
import time

import pytest

from usersync.failures import FailureCode
from usersync_dev.local.pump import LocalLambdaContext, SqsEventPump, sqs_event
from usersync_dev.local.sandbox import CLEVERTAP_ACCOUNT
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration

QUICK_RETRIES = {"backoff_base_s": 0.02, "backoff_max_s": 0.2}


def only(sandbox, name, **settings):
    """The config with one destination, its settings overridden."""
    sandbox.put_config({"destinations": {name: {**sandbox.config["destinations"][name], **settings}}})
    sandbox.cold_start()  # a new Lambda instance: pacing learnt by earlier tests is gone


def receive(sandbox, count=10):
    return sandbox.stack.client("sqs").receive_message(
        QueueUrl=sandbox.queue_url("WorkQueue"), MaxNumberOfMessages=count, AttributeNames=["All"],
        MessageAttributeNames=["All"], VisibilityTimeout=0)["Messages"]


def invoke(sandbox, messages, timeout_s=60.0):
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:usersync-work-queue", "us-east-1")
    return sandbox.handler("deliver")(event, LocalLambdaContext("usersync-deliver", timeout_s=timeout_s))


def pump(sandbox, timeout_s=60.0, batch_size=10):
    return SqsEventPump(sandbox.stack.client("sqs"), sandbox.queue_url("WorkQueue"), sandbox.handler("deliver"),
                        function_name="usersync-deliver", batch_size=batch_size, timeout_s=timeout_s)


def users(prefix, count, **attributes):
    return [{"user_id": f"{prefix}-{i}", "attributes": {"n": i, **attributes}} for i in range(count)]


def test_a_429_storm_slows_delivery_down_and_everything_is_delivered(sandbox):
    """CleverTap allows so many concurrent calls per account and answers 429 past them."""
    only(sandbox, "clevertap", concurrency=8, batch_size=10, max_attempts=10, **QUICK_RETRIES)
    sandbox.clevertap.max_concurrency, sandbox.clevertap.latency_s = 2, 0.05
    try:
        sandbox.publish([json.dumps(users(f"m{m}", 50)) for m in range(8)])  # 400 records, 40 calls
        stats = pump(sandbox).drain()
    finally:
        sandbox.clevertap.max_concurrency, sandbox.clevertap.latency_s = 15, 0.0
    calls = sandbox.clevertap.calls
    throttled = [c for c in calls if c.status == 429]
    assert throttled, "the storm happened"
    assert stats.failed_messages == 0 and sandbox.failed_records() == []  # slowed down, not failed
    assert sum(c.items for c in calls if c.status == 200) == 400  # each record applied once
    assert all(sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, f"m{m}-{i}") for m in range(8) for i in range(50))
    throttle = sandbox.function("deliver").sync.delivery.throttles.get("clevertap", 8, None)
    assert throttle.decreases >= 1  # halved (concurrency and rate) at least once
    assert len(throttled) < len(calls) / 2  # it adapted instead of hammering


def test_5xx_are_retried_in_the_invocation_and_handed_back_to_sqs_when_they_last(sandbox):
    only(sandbox, "batch_ios", max_attempts=3, **QUICK_RETRIES)
    sandbox.publish([json.dumps(users("u", 3))])
    [first] = receive(sandbox)
    sandbox.batch.inject(Fault.status(500), times=2)
    assert invoke(sandbox, [first]) == {"batchItemFailures": []}  # the third attempt went through
    assert [c.status for c in sandbox.batch.calls] == [500, 500, 200]

    sandbox.stack.client("sqs").purge_queue(QueueUrl=sandbox.queue_url("WorkQueue"))
    sandbox.publish([json.dumps(users("v", 3))])
    [second] = receive(sandbox)
    sandbox.batch.inject(Fault.status(503), times=3)  # as many as the attempts: handed back
    assert invoke(sandbox, [second]) == {"batchItemFailures": [{"itemIdentifier": second["MessageId"]}]}
    assert sandbox.failed_records() == []  # retried, not failed
    assert invoke(sandbox, [second]) == {"batchItemFailures": []}  # SQS's retry, the vendor back
    assert sandbox.batch.users_count("ios") == 6


def test_hangs_are_retried_until_time_runs_short_then_the_message_goes_back_to_sqs(sandbox):
    only(sandbox, "batch_ios", timeout_s=0.4, max_attempts=20, **QUICK_RETRIES)
    sandbox.publish([json.dumps(users("slow", 2))])
    sandbox.batch.inject(Fault.hang(0.5), times=50)  # longer than the client's 0.4 s timeout
    [message] = receive(sandbox)

    response = invoke(sandbox, [message], timeout_s=3)  # 3 s left, 0.6 s of it kept in reserve

    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    time.sleep(0.5)  # the simulator logs a hung call when its hang is over
    hung = [c for c in sandbox.batch.calls if c.status is None]
    assert 2 <= len(hung) <= 6  # retried while a call's timeout still fitted, far fewer than 20 attempts
    assert sandbox.batch.profile("ios", "slow-0") is None and sandbox.failed_records() == []

    sandbox.batch.reset()  # the vendor is back: SQS's retry delivers
    assert invoke(sandbox, [message], timeout_s=3) == {"batchItemFailures": []}
    assert sandbox.batch.users_count("ios") == 2


def test_a_lost_response_after_an_applied_increment_applies_it_once(sandbox):
    only(sandbox, "clevertap", **QUICK_RETRIES)
    sandbox.publish([json.dumps({"user_id": "alan", "attributes": {"points": 10}})])
    pump(sandbox).drain()
    sandbox.publish([json.dumps([{"user_id": "alan", "attributes": {"points": {"$incr": 5}}},
                                 {"user_id": "bea", "attributes": {"plan": "pro"}}])])
    [message] = receive(sandbox)
    uploads_before = len(sandbox.clevertap.calls)
    sandbox.clevertap.inject(Fault.apply_then_drop())  # CleverTap applies the call; its answer is lost

    assert invoke(sandbox, [message]) == {"batchItemFailures": []}

    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "alan")["points"] == 15  # applied once
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "bea") == {"plan": "pro"}  # the set was resent
    assert len(sandbox.clevertap.calls) - uploads_before == 2  # the lost call, then bea's set alone
    [failure] = sandbox.failed_records()
    assert failure["error"]["code"] == FailureCode.DELIVERY_UNCERTAIN and failure["retryable"] is True
    assert failure["record"] == {"user_id": "alan", "attributes": {"points": {"$incr": 5}}}
    assert failure["destination"] == "clevertap" and failure["source"]["message_id"] == message["MessageId"]

    # SQS delivers the message again (at least once): nothing is sent, nothing reported twice
    assert invoke(sandbox, [message]) == {"batchItemFailures": []}
    assert len(sandbox.clevertap.calls) - uploads_before == 2
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "alan")["points"] == 15
    assert len(sandbox.failed_records()) == 1


def test_three_bad_records_among_10000_are_isolated_and_every_good_one_delivered(sandbox):
    only(sandbox, "batch_ios")  # one bulk call of up to 10,000 users
    bad = {1234, 5678, 9012}  # an attribute the app refuses: only Batch knows (records pass every check of ours)
    sandbox.batch.refuse_attribute("blocked")
    bodies = []
    for m in range(10):
        records = [{"user_id": f"u{i}", "attributes": {"n": i, **({"blocked": 1} if i in bad else {})}}
                   for i in range(m * 1000, (m + 1) * 1000)]
        bodies.append(json.dumps(records))
    sandbox.publish(bodies)

    stats = pump(sandbox).drain()

    assert stats.invocations == 1 and stats.failed_messages == 0
    failures = sandbox.failed_records()
    assert sorted(int(f["record"]["user_id"][1:]) for f in failures) == sorted(bad)
    for failure in failures:
        assert failure["error"]["code"] == "VENDOR_REJECTED" and failure["retryable"] is False
        assert (failure["error"]["vendor_status"], failure["error"]["vendor_code"]) == (400, "MALFORMED_PARAMETER")
        assert failure["source"]["kind"] == "sqs" and "index" in failure["source"]
    assert sandbox.batch.users_count("ios") == 9_997
    calls = sandbox.batch.calls
    assert calls[0].status == 400 and calls[0].items == 0  # the whole bulk, rejected
    assert len(calls) - 1 <= 2 * 3 * math.log2(10_000)  # extra calls to isolate the 3
    assert sum(c.items for c in calls if c.status == 200) == 9_997  # each good record applied once
    assert sum(t["record_count"] for t in sandbox.tokens()) == 9_997


def test_a_duplicated_message_is_delivered_once(sandbox):
    only(sandbox, "batch_ios")
    sandbox.publish([json.dumps(users("dup", 5))])
    [message] = receive(sandbox)

    assert invoke(sandbox, [message]) == {"batchItemFailures": []}
    assert invoke(sandbox, [message]) == {"batchItemFailures": []}  # SQS delivered it twice

    assert [c.status for c in sandbox.batch.calls] == [200]
    assert [t["record_count"] for t in sandbox.tokens()] == [5]


def test_a_message_retried_for_one_destination_does_not_resend_to_the_others(sandbox):
    sandbox.put_config({"destinations": {
        "batch_ios": sandbox.config["destinations"]["batch_ios"],
        "clevertap": {**sandbox.config["destinations"]["clevertap"], "max_attempts": 1}}})
    sandbox.cold_start()  # a new Lambda instance: pacing learnt by earlier tests is gone
    sandbox.publish([json.dumps(users("fan", 3))])
    sandbox.clevertap.inject(Fault.status(503))
    stats = pump(sandbox).drain()
    assert stats.invocations == 2 and stats.failed_messages == 1
    assert [c.status for c in sandbox.batch.calls] == [200]  # the retry skipped Batch, which had it
    assert [c.status for c in sandbox.clevertap.calls] == [503, 200]
