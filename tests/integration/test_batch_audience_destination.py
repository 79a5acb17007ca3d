"""The deliver function -> Batch Custom Audience simulator, and the follow-indexing function until APPLIED."""

import json
from datetime import datetime
from decimal import Decimal

import pytest

from usersync_dev.local.sandbox import AUDIENCE_APP
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration
AUDIENCES = "batch_ios_audiences"


def audiences_only(sandbox, **settings):
    sandbox.put_config({"destinations": {AUDIENCES: {**sandbox.config["destinations"][AUDIENCES], **settings}}})


def deliver(sandbox, *messages):
    ids = sandbox.publish([json.dumps(m) for m in messages])
    return ids, sandbox.deliver_pump().drain()


def change(install_id, action="add", audience="vip_users", **extra):
    return {"audience": audience, "install_id": install_id, "action": action, **extra}


def members(sandbox, audience="vip_users"):
    return sandbox.batch_audience.members(AUDIENCE_APP, audience)


def patches(sandbox):
    return [c for c in sandbox.batch_audience.calls if c.route == "audience.update"]


def test_members_end_as_the_records_say_with_attributes_and_tags(sandbox):
    audiences_only(sandbox)
    _, stats = deliver(sandbox, [
        change("i-1", attributes={"tier": "gold", "since": {"$date": "2012-08-12T22:30:05"},
                                  "card": {"$url": "myapp://card/1"}, "visits": 3}, tags=["beta", "early"]),
        change("i-2"), change("i-3", audience="beta_testers"),
    ], [change("i-2", action="remove")])
    assert stats.failed_messages == 0 and sandbox.failed_records() == []
    assert members(sandbox) == {"i-1": {"attributes": {"tier": "gold", "since": "2012-08-12T22:30:05",
                                                       "card": "myapp://card/1", "visits": 3},
                                        "tags": ["beta", "early"]}}
    assert members(sandbox, "beta_testers") == {"i-3": {"attributes": {}, "tags": []}}
    tokens = sandbox.tokens()
    assert {(t["audience"], t["token_kind"], t["indexing_state"]) for t in tokens} == {
        ("vip_users", "indexing", "PENDING"), ("beta_testers", "indexing", "PENDING")}
    simulator_calls = {c.status for c in patches(sandbox)}
    assert simulator_calls == {201}


def test_the_last_action_per_id_wins_within_one_call(sandbox):
    audiences_only(sandbox)
    deliver(sandbox, [change("a"), change("b", tags=["x"]), change("a", action="remove"), change("c"),
                      change("b", action="remove"), change("b", tags=["back"])])
    assert len(patches(sandbox)) == 1 and patches(sandbox)[0].items == 3  # a, b and c once each
    assert members(sandbox) == {"b": {"attributes": {}, "tags": ["back"]}, "c": {"attributes": {}, "tags": []}}
    [token] = sandbox.tokens()
    assert token["record_count"] == 6  # every change was applied, the superseded ones by the last


def test_the_follow_up_asks_until_applied_and_records_the_time_it_took(sandbox):
    audiences_only(sandbox)
    deliver(sandbox, [change("i-1"), change("i-2")])
    [token] = sandbox.tokens()
    polls = sandbox.batch_audience.indexing_polls  # the simulator answers IN_PROGRESS this many times
    for _ in range(polls):
        assert sandbox.follow_indexing() == {"applied": 0, "in_progress": 1, "errors": 0, "deferred": 0}
    [token] = sandbox.tokens()
    assert token["indexing_state"] == "IN_PROGRESS" and token["indexing_checks"] == polls
    assert sandbox.follow_indexing() == {"applied": 1, "in_progress": 0, "errors": 0, "deferred": 0}
    [token] = sandbox.tokens()
    assert token["indexing_state"] == "APPLIED" and "pending_indexing" not in token
    # the time it took: from the call (created_at) to the check that saw APPLIED (applied_at), to the ms
    assert token["applied_at"] == token["last_checked_at"]
    took = datetime.fromisoformat(token["applied_at"]) - datetime.fromisoformat(token["created_at"])
    assert abs(token["indexing_seconds"] - Decimal(str(took.total_seconds()))) <= Decimal("0.001")
    gets = [c for c in sandbox.batch_audience.calls if c.route == "audience.indexing"]
    assert len(gets) == polls + 1
    assert sandbox.follow_indexing()["applied"] == 0  # an applied token is not asked about again
    assert len([c for c in sandbox.batch_audience.calls if c.route == "audience.indexing"]) == polls + 1


def test_the_follow_up_keeps_a_token_pending_through_an_outage(sandbox):
    audiences_only(sandbox)
    deliver(sandbox, [change("i-1")])
    sandbox.batch_audience.inject(Fault.status(503), route="audience.indexing")
    assert sandbox.follow_indexing()["deferred"] == 1
    sandbox.batch_audience.indexing_polls, polls = 0, sandbox.batch_audience.indexing_polls
    try:
        assert sandbox.follow_indexing()["applied"] == 1
    finally:
        sandbox.batch_audience.indexing_polls = polls


def test_an_audience_that_does_not_exist_is_a_configuration_problem_with_the_fix_in_the_message(sandbox):
    audiences_only(sandbox)
    _, stats = deliver(sandbox, [change("i-1", audience="no_such_audience"), change("i-2")])
    assert stats.failed_messages == 0
    [failure] = sandbox.failed_records()
    assert failure["record"]["install_id"] == "i-1" and failure["retryable"] is True
    assert failure["error"]["vendor_status"] == 404 and failure["error"]["vendor_code"] == "ROUTE_NOT_FOUND"
    assert "create it" in failure["error"]["message"] and "no_such_audience" in failure["error"]["message"]
    assert members(sandbox) == {"i-2": {"attributes": {}, "tags": []}}  # its own call, delivered


def error_body(name, code):
    return {"error_code": code, "error": name, "error_message": f"simulated {name}"}


@pytest.mark.parametrize("name, status, code, retryable", [
    ("AUTHENTICATION_INVALID", 401, 10, True), ("API_MISUSE", 403, 12, True), ("ROUTE_NOT_FOUND", 404, 20, True),
    ("MISSING_PARAMETER", 400, 30, False), ("MALFORMED_PARAMETER", 400, 31, False),
    ("MALFORMED_JSON_BODY", 400, 32, False),
])
def test_each_documented_refusal_sends_the_calls_records_to_the_failed_records_queue(sandbox, name, status, code,
                                                                                       retryable):
    audiences_only(sandbox)
    # every call refused, however the pipeline splits the batch to find a culprit
    sandbox.batch_audience.inject(Fault.status(status, body=error_body(name, code)), times=5, route="audience.update")
    _, stats = deliver(sandbox, [change("i-1"), change("i-2")])
    assert stats.failed_messages == 0
    failures = sandbox.failed_records()
    assert len(failures) == 2 and members(sandbox) == {}
    for failure in failures:
        assert (failure["error"]["vendor_status"], failure["error"]["vendor_code"], failure["retryable"]) == \
            (status, name, retryable)


# The documented transient errors; the other faults (429, hangs...) meet the same client code as
# Custom Data (batch.client.BatchApi), tested with the Custom Data and CleverTap destinations.
@pytest.mark.parametrize("fault", [
    Fault.status(500, body=error_body("SERVER_ERROR", 1)), Fault.status(503, body=error_body("MAINTENANCE_ERROR", 2)),
    Fault.drop(),
], ids=["SERVER_ERROR", "MAINTENANCE_ERROR", "drop"])
def test_a_transient_failure_is_retried_then_applied(sandbox, fault):
    audiences_only(sandbox, timeout_s=0.5, backoff_base_s=0.01)  # quick retries: this tests the outcome, not the pacing
    sandbox.batch_audience.inject(fault, route="audience.update")
    deliver(sandbox, [change("i-1")])
    assert [c.status for c in patches(sandbox)].count(201) == 1  # after the fault (a hung call is logged when it ends)
    assert members(sandbox) == {"i-1": {"attributes": {}, "tags": []}} and sandbox.failed_records() == []


def test_records_the_mapping_refuses_never_reach_batch_and_spare_their_neighbours(sandbox):
    audiences_only(sandbox)
    deliver(sandbox, [change("i-1", attributes={f"a{i}": i for i in range(16)}),
                      change("i-2", action="remove", tags=["x"]), change("i-3", attributes={"u.tier": "gold"}),
                      change("i-4", audience="bad name"), change("i-5")])
    failures = {f["record"]["install_id"]: (f["error"]["code"], f["error"].get("field")) for f in sandbox.failed_records()}
    assert failures == {"i-1": ("VENDOR_RULE", "attributes"), "i-2": ("VENDOR_RULE", "tags"),
                        "i-3": ("VENDOR_RULE", "attributes.u.tier"), "i-4": ("VENDOR_RULE", "audience")}
    assert members(sandbox) == {"i-5": {"attributes": {}, "tags": []}}
