"""The deliver function -> CleverTap simulator: profiles, the 200 body read per record, regions,
the concurrency limit, dry runs and transient faults."""

import json

import pytest

from usersync_dev.local.sandbox import CLEVERTAP_ACCOUNT
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration


def clevertap_only(sandbox, **settings):
    sandbox.put_config({"destinations": {"clevertap": {**sandbox.config["destinations"]["clevertap"], **settings}}})


def deliver(sandbox, *messages):
    ids = sandbox.publish([json.dumps(m) for m in messages])
    return ids, sandbox.deliver_pump().drain()


def profile(sandbox, user):
    return sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, user)


def test_a_profile_ends_as_the_records_say(sandbox):
    clevertap_only(sandbox)
    first = [{"user_id": "jack", "attributes": {
        "Name": "Jack Montana", "Email": "jack@example.com", "Phone": "+14155551234", "Gender": "M",
        "DOB": {"$date": "2017-02-20T07:45:52"}, "MSG-email": True, "Customer Type": "Platinum",
        "Photo": {"$url": "https://cdn.example.com/jack.png"}, "hobbies": ["chess", "cooking"],
        "Custom Multi Value": {"$add": ["shoes", "bags"]}, "My Number 1": 10, "My Number 2": 100}}]
    second = [{"user_id": "jack", "attributes": {
        "Name": None, "Custom Multi Value": {"$remove": ["bags"]}, "My Number 1": {"$incr": 5},
        "My Number 2": {"$decr": 30}, "hobbies": {"$add": ["go"]}}}]
    _, stats = deliver(sandbox, first, second)
    assert stats.failed_messages == 0 and sandbox.failed_records() == []
    assert profile(sandbox, "jack") == {
        "Email": "jack@example.com", "Phone": "+14155551234", "Gender": "M", "DOB": "$D_1487576752",
        "MSG-email": True, "Customer Type": "Platinum", "Photo": "https://cdn.example.com/jack.png",
        "hobbies": ["chess", "cooking", "go"], "Custom Multi Value": ["shoes"], "My Number 1": 15, "My Number 2": 70}
    # jack's two changes coalesce into one, whose $remove and $add on one property take two calls, in order
    kinds = [(t["destination"], t["token_kind"], t["record_count"]) for t in sandbox.tokens()]
    assert kinds == [("clevertap", "upload", 2)] * 2


@pytest.mark.parametrize("attribute, value, code", [
    ("Gender", "X", 514), ("Email", "not-an-email", 515), ("Employed", "maybe", 517),
    ("Education", "PhD", 518), ("Married", "perhaps", 519), ("Age", "old", 520),
])
def test_a_partial_answer_delivers_the_processed_records_and_fails_the_others_with_cleverTaps_code(
        sandbox, attribute, value, code):
    clevertap_only(sandbox)
    records = [{"user_id": "ok-1", "attributes": {"plan": "pro"}},
               {"user_id": "bad", "attributes": {attribute: value, "plan": "pro"}},
               {"user_id": "ok-2", "attributes": {"plan": "team"}}]
    [message_id], stats = deliver(sandbox, records)
    assert stats.failed_messages == 0
    assert profile(sandbox, "ok-1") == {"plan": "pro"} and profile(sandbox, "ok-2") == {"plan": "team"}
    assert profile(sandbox, "bad") is None
    [failure] = sandbox.failed_records()
    assert failure["record"]["user_id"] == "bad" and failure["destination"] == "clevertap"
    assert failure["source"] == {"kind": "sqs", "message_id": message_id, "index": 1}
    error = failure["error"]
    assert (error["code"], error["vendor_status"], error["vendor_code"], error["field"]) == \
        ("VENDOR_REJECTED", 200, code, f"attributes.{attribute}")
    assert failure["retryable"] is False
    [token] = sandbox.tokens()
    assert token["record_count"] == 2 and token["sources"] == [f"sqs message {message_id} record {i}" for i in (0, 2)]


def test_an_increment_of_a_missing_property_is_cleverTaps_to_refuse_and_is_reported(sandbox):
    clevertap_only(sandbox)
    deliver(sandbox, [{"user_id": "alan", "attributes": {"points": {"$incr": 10}}}])
    [failure] = sandbox.failed_records()
    assert failure["error"]["vendor_status"] == 200 and failure["error"]["vendor_code"]
    assert sandbox.tokens() == []  # nothing processed: a fail body is no success


def test_a_fail_body_without_per_record_entries_fails_every_record_of_the_call(sandbox):
    clevertap_only(sandbox)
    sandbox.clevertap.inject(Fault.status(200, body={"status": "fail", "processed": 0, "error": "Account suspended",
                                                     "code": 403}), times=1)
    deliver(sandbox, [{"user_id": f"u{i}", "attributes": {"plan": "pro"}} for i in range(3)])
    failures = sandbox.failed_records()
    assert len(failures) == 3 and {f["error"]["vendor_code"] for f in failures} == {403}
    assert all("Account suspended" in f["error"]["message"] for f in failures)
    assert sandbox.tokens() == []


def test_a_per_record_server_error_is_marked_for_replay(sandbox):
    clevertap_only(sandbox)
    record = {"identity": "u0", "type": "profile", "profileData": {"plan": "pro"}}
    sandbox.clevertap.inject(Fault.status(200, body={
        "status": "partial", "processed": 1,
        "unprocessed": [{"status": "fail", "code": 555, "error": "Internal error", "record": record}]}), times=1)
    deliver(sandbox, [{"user_id": "u0", "attributes": {"plan": "pro"}}, {"user_id": "u1", "attributes": {"plan": "x"}}])
    [failure] = sandbox.failed_records()
    assert failure["record"]["user_id"] == "u0" and failure["retryable"] is True
    assert failure["error"]["vendor_code"] == 555


def test_the_concurrency_limit_answers_429_and_the_refused_records_are_sent_again(sandbox):
    clevertap_only(sandbox, batch_size=1, concurrency=6)
    limit, latency = sandbox.clevertap.max_concurrency, sandbox.clevertap.latency_s
    sandbox.clevertap.max_concurrency, sandbox.clevertap.latency_s = 2, 0.2
    try:
        deliver(sandbox, *([{"user_id": f"u{i}", "attributes": {"n": i}}] for i in range(6)))
    finally:
        sandbox.clevertap.max_concurrency, sandbox.clevertap.latency_s = limit, latency
    statuses = [c.status for c in sandbox.clevertap.calls]
    assert 429 in statuses and statuses.count(200) == 6  # refused calls were tried again
    assert all(profile(sandbox, f"u{i}") == {"n": i} for i in range(6))
    assert sandbox.failed_records() == []


def test_a_wrong_region_is_a_401_that_says_to_check_the_region(sandbox):
    clevertap_only(sandbox, region="eu1")  # the account lives in in1
    _, stats = deliver(sandbox, [{"user_id": "u1", "attributes": {"plan": "pro"}}])
    assert stats.failed_messages == 0
    [failure] = sandbox.failed_records()
    assert failure["error"]["vendor_status"] == 401 and failure["retryable"] is True
    assert "check the account id, the passcode and the account's region (configured: eu1)" in failure["error"]["message"]
    assert profile(sandbox, "u1") is None


def test_a_dry_run_validates_without_writing_and_says_so_in_the_token(sandbox, caplog):
    clevertap_only(sandbox, dry_run=True)
    deliver(sandbox, [{"user_id": "u1", "attributes": {"plan": "pro"}}, {"user_id": "u2", "attributes": {"Gender": "X"}}])
    assert profile(sandbox, "u1") is None and sandbox.clevertap.uploads == 0
    [token] = sandbox.tokens()
    assert (token["token_kind"], token["record_count"]) == ("dry_run", 1)
    [logged] = [r for r in caplog.records if r.getMessage() == "delivered messages"]  # the function's log line
    assert (logged.delivered, logged.validated_by_dry_run) == ({}, {"clevertap": 1})
    [failure] = sandbox.failed_records()
    assert failure["error"]["vendor_code"] == 514  # what would have failed, fails now


@pytest.mark.parametrize("fault", [
    Fault.status(500), Fault.status(503), Fault.status(429), Fault.status(429, retry_after=1),
    Fault.drop(), Fault.hang(1.5),
], ids=["500", "503", "429", "429-retry-after", "drop", "hang"])
def test_a_transient_fault_is_retried_then_delivered(sandbox, fault):
    clevertap_only(sandbox, timeout_s=0.5, backoff_base_s=0.01)  # quick retries: this tests the outcome, not the pacing
    sandbox.clevertap.inject(fault, times=1)
    deliver(sandbox, [{"user_id": "u1", "attributes": {"plan": "pro"}}])
    statuses = [c.status for c in sandbox.clevertap.calls]
    assert statuses.count(200) == 1  # after the fault (a hung call is logged when it ends)
    assert profile(sandbox, "u1") == {"plan": "pro"} and sandbox.failed_records() == []


def test_a_slow_answer_within_the_timeout_is_just_slow(sandbox):
    clevertap_only(sandbox, timeout_s=5)
    sandbox.clevertap.inject(Fault.slow(0.3), times=1)
    _, stats = deliver(sandbox, [{"user_id": "u1", "attributes": {"plan": "pro"}}])
    assert (stats.invocations, stats.failed_messages) == (1, 0) and profile(sandbox, "u1")
