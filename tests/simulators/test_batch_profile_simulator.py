"""The Batch Profile API simulator against the contract the vendor pages give
(docs/vendors/batch-profile.md): routes, auth, limits per call, the attributes object with its native
and custom attributes, partial errors, whole-call failures, the asynchronous mass-update, rate
limits, and the shared fault injection. Plain `requests` calls: no usersync code involved."""

import pytest
import requests

from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration


def profile(custom_id="jane", **attributes):
    return {"identifiers": {"custom_id": custom_id}, "attributes": attributes}


@pytest.fixture
def attributes(batch_profile, keys):
    """attributes(custom_id="jane", project=the test project) -> a profile's attributes, None without one."""
    def read(custom_id="jane", project=keys.project):
        found = batch_profile.profile(project, custom_id)
        return None if found is None else found["attributes"]
    return read


# -- a call that is taken -----------------------------------------------------------------------------


def test_an_update_is_answered_202_success_and_applied_at_once(batch_profile, profiles_api, keys):
    response = profiles_api([profile(firstname="Jane", age=34, score=4.5, premium=True)])

    assert (response.status_code, response.json()) == (202, {"code": "SUCCESS"})
    assert batch_profile.profile(keys.project, "jane") == {
        "attributes": {"firstname": "Jane", "age": 34, "score": 4.5, "premium": True},
        "types": {"firstname": "string", "age": "integer", "score": "float", "premium": "boolean"}}


def test_the_mass_update_is_answered_202_and_applied_later(batch_profile, profiles_api, attributes):
    response = profiles_api([profile(firstname="Jane")], route="mass-update")

    assert (response.status_code, response.json()) == (202, {"code": "SUCCESS"})
    assert attributes() is None and batch_profile.pending == 1
    assert batch_profile.receipts[0]["applied"] is False
    assert batch_profile.apply_pending() == 1
    assert attributes() == {"firstname": "Jane"} and batch_profile.receipts[0]["applied"] is True


def test_a_mass_update_is_applied_at_the_first_read_or_request_once_its_delay_has_passed(batch_profile, profiles_api,
                                                                                         profile_clock, attributes):
    batch_profile.apply_after_s = 2.0
    profiles_api([profile(firstname="Jane")], route="mass-update")
    profile_clock.now = 1.9
    assert attributes() is None
    profile_clock.now = 2.0
    assert attributes() == {"firstname": "Jane"} and batch_profile.pending == 0


def test_a_later_update_lands_before_an_earlier_mass_update_not_yet_applied(batch_profile, profiles_api, attributes):
    profiles_api([profile(plan="free")], route="mass-update")
    profiles_api([profile(plan="pro")])
    assert attributes() == {"plan": "pro"}
    batch_profile.apply_pending()
    assert attributes() == {"plan": "free"}  # asynchronous: its order is not the calls'


def test_any_2x_version_is_served_and_projects_are_apart(batch_profile, profiles_api, attributes):
    assert profiles_api([profile(plan="pro")], version="2.4").status_code == 202
    assert profiles_api([profile(plan="free")], project="project_other").status_code == 202
    assert attributes() == {"plan": "pro"}
    assert attributes(project="project_other") == {"plan": "free"}


def test_a_profile_is_created_by_an_update_of_its_identifiers_alone(batch_profile, profiles_api, attributes):
    assert profiles_api([{"identifiers": {"custom_id": "new"}}]).json() == {"code": "SUCCESS"}
    assert attributes("new") == {}


# -- the attributes object ---------------------------------------------------------------------------


def test_dates_urls_and_arrays(batch_profile, profiles_api, keys):
    profiles_api([profile(**{"date(birthdate)": "1989-07-20T02:00:00+02:00", "url(avatar)": "myapp://a/b",
                             "interests": ["cinema", "bikes"]})])
    found = batch_profile.profile(keys.project, "jane")
    assert found["attributes"] == {"birthdate": "1989-07-20T00:00:00Z", "avatar": "myapp://a/b",
                                   "interests": ["bikes", "cinema"]}
    assert found["types"] == {"birthdate": "date", "avatar": "url", "interests": "array"}


def test_add_and_remove_edit_an_array_and_null_deletes_any_attribute(batch_profile, profiles_api, attributes):
    profiles_api([profile(rewards=["basic", "silver"], plan="pro")])
    profiles_api([profile(rewards={"$add": ["premium"], "$remove": ["basic"]}, plan=None)])
    assert attributes() == {"rewards": ["premium", "silver"]}
    profiles_api([profile(rewards={"$remove": ["premium", "silver"]}, **{"$email_address": "j@x.io"})])
    profiles_api([profile(**{"$email_address": None})])
    assert attributes() == {}


def test_native_attributes_are_checked_by_their_rules(batch_profile, profiles_api, attributes):
    native = {"$email_address": "jane@batch-store.com", "$email_marketing": "subscribed",
              "$phone_number": "+33639981337", "$sms_marketing": "unsubscribed", "$language": "en",
              "$region": "FR", "$timezone": "Europe/Paris"}
    assert profiles_api([profile(**native)]).json() == {"code": "SUCCESS"}
    assert attributes() == native


@pytest.mark.parametrize("key, value", [
    ("Firstname", "Jane"), ("first name", "x"), ("a" * 31, 1), ("u.level", 1), ("$email", "j@x.io"),
    ("bio", ""), ("bio", "x" * 301), ("bio", {"nested": 1}), ("tags", ["a"] * 26), ("tags", ["a", 1]),
    ("tags", [""]), ("date(d)", "1989-07-20T00:00:00"), ("date(d)", 617_000_000), ("date(d)", None),
    ("url(u)", "not a url"), ("url(u)", "https://x/" + "a" * 2048),
    ("$email_address", "jane"), ("$email_marketing", "yes"), ("$phone_number", "0639981337"),
    ("$sms_marketing", True), ("$language", "EN"), ("$region", "fr"), ("$timezone", "Mars/Olympus"),
    ("points", {"$incr": 1}), ("tags", {}), ("tags", {"$add": "a"}),
])
def test_a_bad_attribute_is_a_partial_error_naming_it_and_the_rest_is_applied(batch_profile, profiles_api, key,
                                                                              value, attributes):
    response = profiles_api([profile("ok", plan="pro"), {"identifiers": {"custom_id": "jane"},
                                                         "attributes": {key: value, "plan": "pro"}}])

    assert response.status_code == 202
    body = response.json()
    assert body["code"] == "SUCCESS_WITH_PARTIAL_ERRORS"
    [error] = body["errors"]
    assert (error["category"], error["bulk_index"], error["attribute"]) == ("attribute", 1, key)
    assert error["reason"]
    assert attributes("jane") == {"plan": "pro"} and attributes("ok") == {"plan": "pro"}


def test_add_on_an_attribute_that_is_not_an_array_is_refused(batch_profile, profiles_api, attributes):
    profiles_api([profile(plan="pro")])
    body = profiles_api([profile(plan={"$add": ["x"]})]).json()
    assert body["errors"][0]["attribute"] == "plan" and attributes() == {"plan": "pro"}


def test_an_array_edited_past_25_strings_is_refused(batch_profile, profiles_api):
    profiles_api([profile(tags=[f"t{i}" for i in range(25)])])
    assert profiles_api([profile(tags={"$add": ["one more"]})]).json()["errors"][0]["attribute"] == "tags"


def test_one_attribute_named_twice_in_one_profile_is_refused(batch_profile, profiles_api):
    body = profiles_api([profile(**{"signup": "x", "date(signup)": "2020-01-01T00:00:00Z"})]).json()
    assert [e["attribute"] for e in body["errors"]] == ["date(signup)"]


# -- a call that is refused whole ----------------------------------------------------------------------


def error(response, status, code):
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code and response.json()["error_message"]


@pytest.mark.parametrize("headers, code", [
    ({"Authorization": "Bearer wrong"}, "AUTHENTICATION_INVALID"),
    ({"Authorization": "rest-SECRET-7f3a91"}, "AUTHENTICATION_INVALID"),  # no Bearer
    ({"X-Batch-Project": "project_unknown"}, "AUTHENTICATION_INVALID"),
])
def test_bad_credentials_are_refused_without_echoing_them(batch_profile, profiles_api, headers, code, attributes):
    response = profiles_api([profile(plan="pro")], headers=headers)
    error(response, 401, code)
    assert "rest-SECRET" not in response.text and "wrong" not in response.text
    assert attributes() is None


def test_no_key_at_all_is_refused(profiles_api):
    error(profiles_api([profile()], rest_key=None), 401, "AUTHENTICATION_INVALID")
    error(profiles_api([profile()], project=None), 401, "AUTHENTICATION_INVALID")


@pytest.mark.parametrize("route, limit", [("update", 200), ("mass-update", 10_000)])
def test_a_call_holds_at_most_its_endpoints_limit(batch_profile, profiles_api, route, limit):
    over = [profile(f"u{i}", n=i) for i in range(limit + 1)]
    error(profiles_api(over, route=route), 400, "MALFORMED_PARAMETER")
    assert profiles_api(over[:limit], route=route).status_code == 202


@pytest.mark.parametrize("body, code", [
    ({"identifiers": {"custom_id": "x"}}, "MALFORMED_PARAMETER"),       # not an array
    ([], "MISSING_PARAMETER"),
    (["x"], "MALFORMED_PARAMETER"),
    ([{"attributes": {}}], "MISSING_PARAMETER"),                          # no identifiers
    ([{"identifiers": {}}], "MALFORMED_PARAMETER"),
    ([{"identifiers": {"custom_id": "a", "installation": {"installation_id": "i"}}}], "MALFORMED_PARAMETER"),
    ([{"identifiers": {"custom_id": ""}}], "MALFORMED_PARAMETER"),
    ([{"identifiers": {"custom_id": 42}}], "MALFORMED_PARAMETER"),
    ([{"identifiers": {"custom_id": "a"}, "attributes": []}], "MALFORMED_PARAMETER"),
    ([{"identifiers": {"custom_id": "a"}, "values": {}}], "MALFORMED_PARAMETER"),
    ([{"identifiers": {"custom_id": "a"}}, {"identifiers": {"custom_id": "a"}}], "MALFORMED_PARAMETER"),
])
def test_a_call_batch_cannot_read_is_refused_whole_and_applies_nothing(batch_profile, profiles_api, body, code):
    error(profiles_api(body=body), 400, code)
    assert batch_profile.receipts == []


def test_a_body_that_is_not_json_or_not_declared_json_is_refused(profiles_api):
    error(profiles_api(data=b"[{", headers={"Content-Type": "application/json"}), 400, "MALFORMED_JSON_BODY")
    error(profiles_api(data=b"[]", headers={"Content-Type": "text/plain"}), 400, "MALFORMED_JSON_BODY")
    error(profiles_api(body="a string"), 400, "MALFORMED_PARAMETER")


def test_an_unknown_route_is_a_404(batch_profile):
    response = requests.post(f"{batch_profile.url}/2.11/profiles/delete", json=[], timeout=5)
    error(response, 404, "ROUTE_NOT_FOUND")


# -- rate limits ----------------------------------------------------------------------------------------


def test_update_allows_a_burst_of_1000_then_300_a_second(batch_profile, profiles_api, profile_clock):
    calls = [[profile(f"c{call}-{i}", n=i) for i in range(200)] for call in range(6)]
    assert [profiles_api(c).status_code for c in calls[:5]] == [202] * 5   # 1,000 at once
    error(profiles_api(calls[5]), 429, "TOO_MANY_REQUESTS")
    assert "Retry-After" not in profiles_api(calls[5]).headers           # not documented
    profile_clock.now = 0.5                                              # 150 profiles' worth
    error(profiles_api(calls[5]), 429, "TOO_MANY_REQUESTS")
    profile_clock.now = 200 / 300
    assert profiles_api(calls[5]).status_code == 202


def test_mass_update_allows_10000_a_second_and_no_more(batch_profile, profiles_api, profile_clock):
    full = [profile(f"u{i}", n=i) for i in range(10_000)]
    assert profiles_api(full, route="mass-update").status_code == 202
    error(profiles_api([profile("one more")], route="mass-update"), 429, "TOO_MANY_REQUESTS")
    assert profiles_api([profile("one more")]).status_code == 202       # the update route has its own bucket
    profile_clock.now = 1.0
    assert profiles_api(full, route="mass-update").status_code == 202


def test_rate_limits_are_per_project(batch_profile, profiles_api):
    calls = [[profile(f"c{call}-{i}") for i in range(200)] for call in range(5)]
    assert all(profiles_api(c).status_code == 202 for c in calls)
    assert profiles_api([profile()], project="project_other").status_code == 202


def test_a_refused_call_uses_no_rate(batch_profile, profiles_api):
    for _ in range(10):
        profiles_api(body=[{"identifiers": {}}] * 200)
    assert profiles_api([profile(f"u{i}") for i in range(200)]).status_code == 202


# -- the shared fault injection ----------------------------------------------------------------------


@pytest.mark.parametrize("status, code", [(500, "SERVER_ERROR"), (503, "MAINTENANCE_ERROR"),
                                          (429, "TOO_MANY_REQUESTS"), (401, "AUTHENTICATION_INVALID")])
def test_a_status_fault_answers_in_batchs_error_format_and_applies_nothing(batch_profile, profiles_api, status,
                                                                           code, attributes):
    batch_profile.inject(Fault.status(status), route="profiles.update")
    response = profiles_api([profile(plan="pro")])
    assert (response.status_code, response.json()) == (status, {"error_code": code, "error_message": "simulated fault"})
    assert attributes() is None
    assert [(c.route, c.status, c.items) for c in batch_profile.calls] == [("profiles.update", status, 0)]


def test_a_dropped_connection_applies_nothing_and_apply_then_drop_applies(batch_profile, profiles_api, attributes):
    batch_profile.inject(Fault.drop())
    with pytest.raises(requests.ConnectionError):
        profiles_api([profile(plan="lost")])
    assert attributes() is None
    batch_profile.inject(Fault.apply_then_drop(), route="profiles.mass_update")
    with pytest.raises(requests.ConnectionError):
        profiles_api([profile(plan="applied")], route="mass-update")
    batch_profile.apply_pending()
    assert attributes() == {"plan": "applied"}


def test_reset_forgets_profiles_jobs_rates_and_calls(batch_profile, profiles_api, attributes):
    profiles_api([profile(plan="pro")])
    profiles_api([profile("later")], route="mass-update")
    batch_profile.reset()
    assert (attributes(), batch_profile.pending, batch_profile.receipts, batch_profile.calls) == \
        (None, 0, [], [])
