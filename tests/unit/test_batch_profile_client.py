"""Batch Profile API answers -> outcomes: 202 bodies (success, success with partial errors), HTTP
statuses, 429's wait, headers and secrets; and the destination's settings: which endpoint, batch
sizes, pacing. A fake session stands for the network (the simulator tests are in tests/simulators)."""

import json

import pytest
import requests

from usersync.config import ConfigError, parse_config
from usersync.delivery.outcomes import VendorRejected, VendorUnavailable
from usersync.secrets import Secret
from usersync.settings import VendorAccessSettings
from usersync.vendors.base import FILES, MESSAGES, VendorContext
from usersync.vendors.batch_profile.client import (
    MASS_UPDATE, PARTIAL, RATE_LIMITED_WAIT_S, UPDATE, BatchProfileClient, read_answer,
)

REST_KEY = "rest-SECRET-5c1e"
PROFILES = [{"identifiers": {"custom_id": f"u{i}"}, "attributes": {"n": i}} for i in range(3)]


class FakeSession:
    """Answers each post with the next (status, body, headers); records what was sent."""

    def __init__(self, *answers):
        self.answers, self.sent = list(answers), []

    def post(self, url, **kwargs):
        self.sent.append((url, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = (*answer, {})[:3]
        response = requests.Response()
        response.status_code, response.headers = status, requests.structures.CaseInsensitiveDict(headers)
        response._content = (body if isinstance(body, str) else json.dumps(body)).encode()
        return response


def client(*answers, endpoint=UPDATE, base=None):
    session = FakeSession(*answers)
    return BatchProfileClient("project_0664hx", Secret(REST_KEY), endpoint, session=session, timeout_s=5,
                              base=base), session


def partial(*errors):
    return {"code": PARTIAL, "errors": list(errors)}


def test_a_call_posts_the_profiles_with_bearer_auth_and_the_project_key_to_the_endpoint():
    for endpoint, path in ((UPDATE, "/2.11/profiles/update"), (MASS_UPDATE, "/2.11/profiles/mass-update")):
        api, session = client((202, {"code": "SUCCESS"}), endpoint=endpoint)
        assert api.send(PROFILES) == {}
        url, sent = session.sent[0]
        assert url == "https://api.batch.com" + path and json.loads(sent["data"]) == PROFILES
        assert sent["headers"]["Authorization"] == f"Bearer {REST_KEY}"
        assert sent["headers"]["X-Batch-Project"] == "project_0664hx"


def test_a_base_url_override_replaces_batchs_host():
    api, session = client((202, {"code": "SUCCESS"}), base="http://127.0.0.1:9/")
    api.send(PROFILES)
    assert session.sent[0][0] == "http://127.0.0.1:9/2.11/profiles/update"


def test_partial_errors_reject_exactly_the_profiles_they_name_by_position():
    rejected = read_answer(partial({"category": "attribute", "bulk_index": 1, "attribute": "date(signup)",
                                    "reason": "invalid date"}), 3, "r", 202)
    assert list(rejected) == [1]
    why = rejected[1]
    assert (why.code, why.field, why.vendor_status, why.vendor_code) == (
        "VENDOR_REJECTED", "attributes.signup", 202, "attribute")
    assert "date(signup): invalid date" in why.message and "applies the rest" in why.message and not why.retryable


def test_several_errors_of_one_profile_are_one_rejection_naming_them_all():
    rejected = read_answer(partial({"category": "attribute", "bulk_index": 2, "attribute": "$region", "reason": "bad"},
                                   {"category": "attribute", "bulk_index": 2, "attribute": "bio", "reason": "too long"}),
                           3, "r", 202)
    assert list(rejected) == [2] and rejected[2].field == "attributes.$region"
    assert "$region: bad" in rejected[2].message and "bio: too long" in rejected[2].message


def test_an_error_without_an_attribute_names_no_field():
    rejected = read_answer(partial({"category": "event", "bulk_index": 0, "reason": "too old"}), 3, "r", 202)
    assert rejected[0].field is None and rejected[0].vendor_code == "event"


@pytest.mark.parametrize("index", [3, -1, "1", None, True])
def test_errors_that_cannot_be_placed_leave_no_profile_counted_delivered(index):
    rejected = read_answer(partial({"bulk_index": index, "reason": "?"}), 3, "r", 202)
    assert sorted(rejected) == [0, 1, 2] and all(why.retryable for why in rejected.values())
    assert "may or may not" in rejected[0].message


@pytest.mark.parametrize("body", [{}, {"code": "OK"}, [], "accepted", {"code": PARTIAL}, {"code": PARTIAL, "errors": []}])
def test_a_2xx_body_batch_does_not_document_is_retried_not_taken_for_success(body):
    with pytest.raises(VendorUnavailable):
        read_answer(body, 3, "r", 202)


def test_a_2xx_that_is_not_json_is_retried():
    api, _ = client((202, "<html>accepted</html>"))
    with pytest.raises(VendorUnavailable, match="not JSON"):
        api.send(PROFILES)


def test_a_429_waits_the_few_seconds_batch_asks_for_unless_it_says_how_long():
    api, _ = client((429, {"error_code": "TOO_MANY_REQUESTS", "error_message": "slow down"}),
                    (429, {}, {"Retry-After": "12"}))
    with pytest.raises(VendorUnavailable) as first:
        api.send(PROFILES)
    assert (first.value.status, first.value.retry_after_s) == (429, RATE_LIMITED_WAIT_S)
    assert "TOO_MANY_REQUESTS" in str(first.value)
    with pytest.raises(VendorUnavailable) as second:
        api.send(PROFILES)
    assert second.value.retry_after_s == 12


def test_the_wait_after_a_429_is_a_setting(monkeypatch):
    from usersync.secrets import SecretResolver
    from usersync.vendors.batch_profile import destination as destination_module

    monkeypatch.setattr(destination_module, "pooled_session", lambda concurrency: FakeSession((429, {})))
    context = VendorContext(secrets=SecretResolver(environ={"BATCH_REST_KEY": REST_KEY}))
    with pytest.raises(VendorUnavailable) as caught:
        destination(context, rate_limited_wait_s=0.5).send(PROFILES)
    assert caught.value.retry_after_s == 0.5


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(status):
    api, _ = client((status, {"error_code": "SERVER_ERROR", "error_message": "oops"}))
    with pytest.raises(VendorUnavailable) as caught:
        api.send(PROFILES)
    assert caught.value.status == status


def test_a_4xx_rejects_the_call_with_batchs_error_and_a_401_says_what_to_check():
    api, _ = client((400, {"error_code": "MALFORMED_PARAMETER", "error_message": "bad body"}),
                    (401, {"error_code": "AUTHENTICATION_INVALID", "error_message": "bad key"}))
    with pytest.raises(VendorRejected) as bad:
        api.send(PROFILES)
    assert (bad.value.status, bad.value.code, bad.value.message) == (400, "MALFORMED_PARAMETER", "bad body")
    with pytest.raises(VendorRejected) as auth:
        api.send(PROFILES)
    assert "project key (project_0664hx)" in auth.value.message


def test_a_connection_that_could_not_be_made_was_not_applied_and_no_key_leaks():
    refused = requests.ConnectionError(f"cannot connect (Authorization: Bearer {REST_KEY})")
    api, _ = client(refused)
    with pytest.raises(VendorUnavailable) as caught:
        api.send(PROFILES)
    assert REST_KEY not in str(caught.value)
    api, _ = client(requests.ReadTimeout("read timed out"))
    with pytest.raises(VendorUnavailable) as timeout:
        api.send(PROFILES)
    assert timeout.value.maybe_applied is True


# --- the destination's settings ---------------------------------------------------------------------


def destination(context=VendorContext(), **settings):
    document = {"destinations": {"profiles": {"type": "batch_profile", "project_key": "project_1",
                                              "rest_key": "env:BATCH_REST_KEY", **settings}}}
    return parse_config(json.dumps(document), origin="test").build(context)["profiles"]


@pytest.mark.parametrize("traffic, endpoint, batch_size, per_s, burst", [
    (MESSAGES, "update", 200, 60, 200), (FILES, "mass_update", 10_000, 2_000, 2_000), (None, "update", 200, 60, 200)])
def test_auto_sends_messages_to_update_and_files_to_mass_update_with_their_limits(traffic, endpoint, batch_size,
                                                                                   per_s, burst):
    built = destination(VendorContext(traffic=traffic))
    assert (built.endpoint.name, built.batch_size) == (endpoint, batch_size)
    assert (built.record_pacing.per_s, built.record_pacing.burst) == (per_s, burst)
    assert built.record_pacing.key == f"batch_profile:project_1:{endpoint}"


def test_a_named_endpoint_is_used_whatever_the_traffic():
    assert destination(VendorContext(traffic=FILES), endpoint="update").endpoint.name == "update"
    assert destination(VendorContext(traffic=MESSAGES), endpoint="mass_update").endpoint.name == "mass_update"


def test_settings_are_capped_at_the_chosen_endpoints_limits():
    built = destination(VendorContext(traffic=MESSAGES), batch_size=5_000, profiles_per_s=5_000, profiles_burst=5_000)
    assert (built.batch_size, built.record_pacing.per_s, built.record_pacing.burst) == (200, 300, 1_000)
    built = destination(VendorContext(traffic=FILES), batch_size=5_000, profiles_per_s=5_000)
    assert (built.batch_size, built.record_pacing.per_s) == (5_000, 5_000)


@pytest.mark.parametrize("settings", [{"endpoint": "update", "batch_size": 201}, {"endpoint": "update", "profiles_per_s": 301},
                                      {"endpoint": "update", "profiles_burst": 1_001}, {"batch_size": 10_001},
                                      {"endpoint": "fast"}, {"project_key": ""}, {"api_key": "x"}])
def test_settings_out_of_batchs_limits_are_refused_naming_them(settings):
    with pytest.raises(ConfigError) as caught:
        destination(**settings)
    assert "profiles" in str(caught.value)


def test_the_profile_base_url_override_falls_back_to_batchs():
    context = VendorAccessSettings.from_environment({"BATCH_API_URL": "http://batch"}).vendor_context()
    assert context.endpoints.batch_profile is None and context.endpoints.batch == "http://batch"
    context = VendorAccessSettings.from_environment(
        {"BATCH_API_URL": "http://batch", "BATCH_PROFILE_API_URL": "http://profiles"}).vendor_context(traffic=FILES)
    assert (context.endpoints.batch_profile, context.traffic) == ("http://profiles", FILES)


def test_the_composition_root_tells_each_function_what_it_delivers():
    """deliver (SQS messages) builds the project for profiles/update, deliver_chunk (files) for mass-update."""
    from usersync import wiring
    from usersync.settings import DeliverChunkSettings, DeliverSettings

    document = json.dumps({"destinations": {"profiles": {"type": "batch_profile", "project_key": "project_1",
                                                         "rest_key": "env:BATCH_REST_KEY"}}})
    environ = {"STATE_TABLE": "state", "DESTINATIONS_CONFIG": document, "FAILED_RECORDS_QUEUE_URL": "https://q", "FAILED_RECORDS_BUCKET": "b",
               "AWS_DEFAULT_REGION": "us-east-1"}
    messages = wiring.deliver(DeliverSettings.from_environment(environ)).delivery.destinations()["profiles"]
    files = wiring.deliver_chunk(DeliverChunkSettings.from_environment(environ)).delivery.destinations()["profiles"]
    assert (messages.endpoint.name, files.endpoint.name) == ("update", "mass_update")
