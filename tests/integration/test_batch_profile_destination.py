"""The deliver and chunk functions -> the Batch Profile API simulator: messages to profiles/update,
files to profiles/mass-update (applied later), Batch's partial errors per record, 429s and the
per-project pacing that keeps them away."""

import json

import pytest

from usersync_dev.local.sandbox import PROFILE_PROJECT
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration


def profiles_only(sandbox, **settings):
    sandbox.put_config({"destinations": {"batch_profile": {**sandbox.config["destinations"]["batch_profile"],
                                                           **settings}}})


def attributes(sandbox, user):
    found = sandbox.batch_profile.profile(PROFILE_PROJECT, user)
    return None if found is None else found["attributes"]


def deliver(sandbox, *messages):
    ids = sandbox.publish([json.dumps(m) for m in messages])
    return ids, sandbox.deliver_pump().drain()


def test_messages_go_to_update_and_a_profile_ends_as_the_records_say(sandbox):
    profiles_only(sandbox)
    first = [{"user_id": "jane", "attributes": {
        "firstname": "Jane", "age": 34, "premium": True, "score": 4.5, "birthdate": {"$date": "1989-07-20"},
        "avatar": {"$url": "https://cdn.example.com/jane.png"}, "interests": ["bikes", "cinema"],
        "rewards": {"$add": ["basic"]}, "$email_address": "jane@batch-store.com", "$email_marketing": "subscribed",
        "$phone_number": "+33639981337", "$language": "fr", "$region": "FR", "$timezone": "Europe/Paris"}}]
    second = [{"user_id": "jane", "attributes": {"premium": None, "rewards": {"$add": ["premium"], "$remove": ["basic"]},
                                                 "$email_marketing": None}}]
    _, stats = deliver(sandbox, first, second)
    assert stats.failed_messages == 0 and sandbox.failed_records() == []
    assert attributes(sandbox, "jane") == {
        "firstname": "Jane", "age": 34, "score": 4.5, "birthdate": "1989-07-20T00:00:00Z",
        "avatar": "https://cdn.example.com/jane.png", "interests": ["bikes", "cinema"], "rewards": ["premium"],
        "$email_address": "jane@batch-store.com", "$phone_number": "+33639981337", "$language": "fr",
        "$region": "FR", "$timezone": "Europe/Paris"}
    # jane's two changes, in one invocation, coalesce into one update: one call
    assert [c.route for c in sandbox.batch_profile.calls] == ["profiles.update"]
    assert [(t["token_kind"], t["token"], t["vendor"], t["record_count"]) for t in sandbox.tokens()] == [
        ("update", "", "batch_profile", 2)]


def test_a_partial_error_fails_that_record_naming_the_attribute_and_delivers_the_others(sandbox):
    profiles_only(sandbox)
    records = [{"user_id": "ok-1", "attributes": {"plan": "pro"}},
               # right shape, but no such zone: Batch's to say, in its 202
               {"user_id": "bad", "attributes": {"$timezone": "Mars/Olympus_Mons", "plan": "pro"}},
               {"user_id": "ok-2", "attributes": {"plan": "team"}}]
    [message_id], stats = deliver(sandbox, records)
    assert stats.failed_messages == 0
    assert attributes(sandbox, "ok-1") == {"plan": "pro"} and attributes(sandbox, "ok-2") == {"plan": "team"}
    assert attributes(sandbox, "bad") == {"plan": "pro"}  # the rest of its update was applied
    [failure] = sandbox.failed_records()
    assert failure["source"] == {"kind": "sqs", "message_id": message_id, "index": 1}
    assert failure["destination"] == "batch_profile" and failure["record"] == records[1]
    assert {k: failure["error"][k] for k in ("code", "field", "vendor_status", "vendor_code")} == {
        "code": "VENDOR_REJECTED", "field": "attributes.$timezone", "vendor_status": 202, "vendor_code": "attribute"}
    assert "IANA" in failure["error"]["message"] and not failure["retryable"]
    [token] = sandbox.tokens()
    assert token["record_count"] == 2


def test_files_go_to_mass_update_which_batch_applies_later(sandbox):
    profiles_only(sandbox)
    sandbox.batch_profile.apply_after_s = None  # held until the test applies them
    sandbox.files.upload("incoming/profiles.csv", "user_id,plan,age:int\n" +
                         "".join(f"u{i},pro,{20 + i}\n" for i in range(5)))
    sandbox.files.run()
    report = sandbox.files.report("incoming/profiles.csv")
    counts = report["destinations"]["batch_profile"]
    assert report["state"] == "DONE" and (counts["delivered"], counts["rejected"]) == (5, 0)
    assert {c.route for c in sandbox.batch_profile.calls} == {"profiles.mass_update"}
    assert sandbox.batch_profile.pending == 1 and attributes(sandbox, "u0") is None  # accepted, not applied yet
    sandbox.batch_profile.apply_pending()
    assert attributes(sandbox, "u4") == {"plan": "pro", "age": 24}
    assert {t["token_kind"] for t in sandbox.tokens()} == {"mass_update"}


def test_a_destination_naming_update_sends_files_there_in_calls_of_its_size(sandbox):
    profiles_only(sandbox, endpoint="update", batch_size=2)
    sandbox.files.upload("incoming/few.jsonl", "".join(json.dumps({"user_id": f"u{i}"}) + "\n" for i in range(5)))
    sandbox.files.run()
    assert sorted((c.route, c.items) for c in sandbox.batch_profile.calls) == [
        ("profiles.update", 1), ("profiles.update", 2), ("profiles.update", 2)]
    assert attributes(sandbox, "u4") == {}


def test_a_429_is_retried_after_batchs_wait_and_the_call_is_delivered(sandbox):
    profiles_only(sandbox)
    sandbox.batch_profile.inject(Fault.status(429, retry_after=1), route="profiles.update")
    _, stats = deliver(sandbox, [{"user_id": "jane", "attributes": {"plan": "pro"}}])
    assert stats.failed_messages == 0 and sandbox.failed_records() == []
    assert [c.status for c in sandbox.batch_profile.calls] == [429, 202]
    assert attributes(sandbox, "jane") == {"plan": "pro"}


def test_pacing_keeps_within_batchs_rate_so_a_burst_of_records_meets_no_429(sandbox):
    """1,400 profiles to a project allowing bursts of 1,000 then 300 a second: the destination's bucket
    (a little under Batch's own rate here: Batch counts a call when it arrives) spaces the calls so that
    Batch never refuses one. Without the bucket the sixth call is refused."""
    profiles_only(sandbox, profiles_per_s=290, profiles_burst=950)
    users = [{"user_id": f"u{i}", "attributes": {"n": i}} for i in range(1_400)]
    _, stats = deliver(sandbox, *(users[i:i + 200] for i in range(0, len(users), 200)))
    assert stats.failed_messages == 0 and sandbox.failed_records() == []
    assert [c.status for c in sandbox.batch_profile.calls] == [202] * 7
    assert attributes(sandbox, "u1399") == {"n": 1_399}

