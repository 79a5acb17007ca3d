"""One record, several destinations (two Batch apps, a Batch project's profiles and CleverTap), each with
its own outcome; and the fewest calls the vendors' limits allow."""

import json
import math

import pytest

from usersync_dev.local.sandbox import AUDIENCE_APP, CLEVERTAP_ACCOUNT, PROFILE_PROJECT

pytestmark = pytest.mark.integration
USER_DESTINATIONS = ["batch_ios", "batch_android", "batch_profile", "clevertap"]


def outcomes(sandbox, message_id):
    """{(record index, destination): "delivered" or the failure code} for one message."""
    seen = {}
    for token in sandbox.tokens():
        for source in token["sources"]:
            prefix = f"sqs message {message_id} record "
            if source.startswith(prefix):
                seen[(int(source[len(prefix):]), token["destination"])] = "delivered"
    for failure in sandbox.failed_records():
        seen[(failure["source"]["index"], failure["destination"])] = failure["error"]["code"]
    return seen


def test_one_record_fans_out_to_batch_apps_a_batch_project_and_cleverTap_with_an_outcome_per_destination(sandbox):
    records = [
        # every destination takes it
        {"user_id": "ada", "attributes": {"nickname": "Ada", "points": 10, "hobbies": ["maths"]}},
        # CleverTap increments; Batch cannot (neither API), and says so for each destination
        {"user_id": "ada", "attributes": {"points": {"$incr": 5}}},
        # Batch removes (both APIs); CleverTap can remove only Name and Gender, and says so
        {"user_id": "ada", "attributes": {"nickname": None}},
        # CleverTap's property names are free text; Batch's are not
        {"user_id": "ada", "attributes": {"Customer Type": "Platinum"}, "destinations": ["batch_ios", "clevertap"]},
        # the Profile API's native attributes; the Custom Data API has none
        {"user_id": "ada", "attributes": {"$email_address": "ada@example.com", "$region": "GB"},
         "destinations": ["batch_profile", "batch_android"]},
    ]
    [message_id] = sandbox.publish([json.dumps(records)])
    stats = sandbox.deliver_pump().drain()
    assert stats.failed_messages == 0
    assert outcomes(sandbox, message_id) == {
        (0, "batch_ios"): "delivered", (0, "batch_android"): "delivered", (0, "batch_profile"): "delivered",
        (0, "clevertap"): "delivered",
        (1, "batch_ios"): "UNSUPPORTED_OPERATION", (1, "batch_android"): "UNSUPPORTED_OPERATION",
        (1, "batch_profile"): "UNSUPPORTED_OPERATION", (1, "clevertap"): "delivered",
        (2, "batch_ios"): "delivered", (2, "batch_android"): "delivered", (2, "batch_profile"): "delivered",
        (2, "clevertap"): "UNSUPPORTED_OPERATION",
        (3, "batch_ios"): "VENDOR_RULE", (3, "clevertap"): "delivered",
        (4, "batch_profile"): "delivered", (4, "batch_android"): "VENDOR_RULE",
    }
    for app in ("ios", "android"):
        assert sandbox.batch.profile(app, "ada")["attributes"] == {"points": 10}
    assert sandbox.batch_profile.profile(PROFILE_PROJECT, "ada")["attributes"] == {
        "points": 10, "hobbies": ["maths"], "$email_address": "ada@example.com", "$region": "GB"}
    assert [c.route for c in sandbox.batch_profile.calls] == ["profiles.update"]  # messages: one update call
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "ada") == {
        "nickname": "Ada", "points": 15, "hobbies": ["maths"], "Customer Type": "Platinum"}
    reasons = {(f["source"]["index"], f["destination"]): f["error"]["message"] for f in sandbox.failed_records()}
    assert "Batch cannot apply $incr to 'points'" in reasons[(1, "batch_ios")]
    assert "documents no increment: it cannot apply $incr to 'points'" in reasons[(1, "batch_profile")]
    assert "it cannot remove 'nickname'" in reasons[(2, "clevertap")]


def test_n_records_take_ceil_n_over_the_batch_size_calls_per_destination(sandbox):
    n, size = 250, 100
    config = sandbox.config["destinations"]
    sandbox.put_config({"destinations": {name: {**settings, "batch_size": size} for name, settings in config.items()}})
    users = [{"user_id": f"user-{i}", "attributes": {"plan": "pro", "n": i}} for i in range(n)]
    members = [{"audience": "vip_users", "install_id": f"install-{i}", "action": "add"} for i in range(n)]
    sandbox.publish([json.dumps(users), json.dumps(members)])
    stats = sandbox.deliver_pump().drain()
    assert (stats.invocations, stats.failed_messages) == (1, 0) and sandbox.failed_records() == []

    minimum = math.ceil(n / size)
    assert sorted(c.items for c in sandbox.batch.calls if c.route == "data.bulk") == [50, 50, 100, 100, 100, 100]
    assert sorted(c.items for c in sandbox.clevertap.calls) == [50, 100, 100]
    assert sorted(c.items for c in sandbox.batch_audience.calls) == [50, 100, 100]
    assert sorted(c.items for c in sandbox.batch_profile.calls) == [50, 100, 100]
    calls = {}
    for token in sandbox.tokens():
        calls[token["destination"]] = calls.get(token["destination"], 0) + 1
    assert calls == {"batch_ios": minimum, "batch_android": minimum, "batch_profile": minimum, "clevertap": minimum,
                     "batch_ios_audiences": minimum}
    assert len(sandbox.batch_audience.members(AUDIENCE_APP, "vip_users")) == n
