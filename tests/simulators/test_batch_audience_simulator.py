"""The Batch Custom Audience simulator holds to the vendor page: audiences, ids, attributes, indexing."""

import re

import pytest
import requests

from usersync_dev.simulators.batch_audience import MAX_ATTRIBUTES_PER_ID, MAX_IDS_PER_CALL

pytestmark = pytest.mark.integration

TOKEN = re.compile(r"[0-9a-f]{32}")


def assert_error(response, status, error, code, mentions=()):
    assert response.status_code == status, response.text
    body = response.json()
    assert body.keys() == {"error_code", "error", "error_message"}
    assert (body["error"], body["error_code"]) == (error, code)
    for text in mentions:
        assert text in body["error_message"]


def add(install_id, **fields):
    return {"action": "add", "id": install_id, **fields}


def remove(install_id):
    return {"action": "remove", "id": install_id}


@pytest.fixture
def vip(batch_audience):
    batch_audience.create_audience("ios", "vip")
    return batch_audience


# -- audiences -----------------------------------------------------------------------------------


def test_post_creates_an_audience_once(batch_audience, audience_api):
    response = audience_api("POST", "vip_users-2")

    assert (response.status_code, response.json()) == (201, {})
    assert batch_audience.audiences("ios") == ["vip_users-2"]
    assert batch_audience.members("ios", "vip_users-2") == {}
    assert batch_audience.audiences("android") == []
    assert_error(audience_api("POST", "vip_users-2"), 403, "API_MISUSE", 12, ["already exists"])


def test_creating_takes_no_parameters(audience_api):
    assert audience_api("POST", "a", {}).status_code == 201
    assert_error(audience_api("POST", "b", {"ids": [add("i1")]}), 400, "MALFORMED_PARAMETER", 31, ["PATCH"])


@pytest.mark.parametrize("name", ["vip.users", "vip%20users", "x" * 256])
def test_invalid_audience_names_are_malformed(audience_api, name):
    assert_error(audience_api("POST", name), 400, "MALFORMED_PARAMETER", 31, ["audience names"])


def test_the_longest_name_is_accepted(audience_api):
    assert audience_api("POST", "x" * 255).status_code == 201


def test_names_are_case_sensitive(vip, audience_api):
    assert_error(audience_api("PATCH", "VIP", {"ids": [add("i1")]}), 404, "ROUTE_NOT_FOUND", 20,
                 ["audience 'VIP' not found"])


def test_delete_removes_the_audience(vip, audience_api):
    response = audience_api("DELETE")

    assert response.status_code == 200
    assert vip.members("ios", "vip") is None
    assert_error(audience_api("DELETE"), 404, "ROUTE_NOT_FOUND", 20, ["not found"])


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_changing_a_missing_audience_is_not_found(batch_audience, audience_api, method):
    assert_error(audience_api(method, "ghost", {"ids": [add("i1")]}), 404, "ROUTE_NOT_FOUND", 20,
                 ["audience 'ghost' not found"])
    assert batch_audience.audiences("ios") == []


def test_auto_create_makes_the_audience_on_its_first_valid_change(batch_audience, audience_api):
    batch_audience.auto_create = True

    assert audience_api("PATCH", "ghost", {"ids": [add("i1", tags=["x", 1])]}).status_code == 400
    assert batch_audience.audiences("ios") == []
    assert audience_api("PATCH", "ghost", {"ids": [add("i1")]}).status_code == 201
    assert batch_audience.members("ios", "ghost") == {"i1": {"attributes": {}, "tags": []}}


# -- members -------------------------------------------------------------------------------------


def test_patch_adds_ids_with_attributes_and_tags(vip, audience_api):
    response = audience_api("PATCH", body={"ids": [
        add("INSTALL-ID-1", attributes={"att1": 3, "att2": "string", "att3": 1.5, "att4": False,
                                        "date(att15)": "2012-08-12T22:30:05", "date(att16)": 1344810605,
                                        "url(att20)": "https://example.com/x"},
            tags=["value-2", "value-1", "value-2"]),
        add("INSTALL-ID-2"),
    ]})

    assert response.status_code == 201
    assert response.json().keys() == {"indexing_token"} and TOKEN.fullmatch(response.json()["indexing_token"])
    assert vip.members("ios", "vip") == {
        "INSTALL-ID-1": {"attributes": {"att1": 3, "att2": "string", "att3": 1.5, "att4": False,
                                        "att15": "2012-08-12T22:30:05", "att16": "2012-08-12T22:30:05",
                                        "att20": "https://example.com/x"},
                         "tags": ["value-1", "value-2"]},
        "INSTALL-ID-2": {"attributes": {}, "tags": []},
    }
    assert [(c.route, c.status, c.items) for c in vip.calls] == [("audience.update", 201, 2)]


def test_patch_removes_ids(vip, audience_api):
    audience_api("PATCH", body={"ids": [add("i1"), add("i2")]})
    assert audience_api("PATCH", body={"ids": [remove("i1"), remove("never-added")]}).status_code == 201
    assert list(vip.members("ios", "vip")) == ["i2"]


def test_only_the_last_action_for_an_id_counts(vip, audience_api):
    audience_api("PATCH", body={"ids": [add("kept"), add("removed")]})

    response = audience_api("PATCH", body={"ids": [
        remove("kept"), add("kept", attributes={"tier": "gold"}),
        add("removed", attributes={"tier": "silver"}), remove("removed"),
        add("twice", tags=["first"]), add("twice", tags=["second"]),
    ]})

    assert response.status_code == 201
    assert vip.members("ios", "vip") == {"kept": {"attributes": {"tier": "gold"}, "tags": []},
                                         "twice": {"attributes": {}, "tags": ["second"]}}


def test_put_replaces_all_members(vip, audience_api):
    audience_api("PATCH", body={"ids": [add("old1"), add("old2")]})

    response = audience_api("PUT", body={"ids": [add("new", tags=["t"])]})

    assert response.status_code == 201 and TOKEN.fullmatch(response.json()["indexing_token"])
    assert vip.members("ios", "vip") == {"new": {"attributes": {}, "tags": ["t"]}}


def test_a_call_is_rejected_as_a_whole(vip, audience_api):
    audience_api("PATCH", body={"ids": [add("present")]})

    response = audience_api("PATCH", body={"ids": [remove("present"), add("new"), add("bad", attributes={"X": 1})]})

    assert_error(response, 400, "MALFORMED_PARAMETER", 31, ["ids[2]", "'bad'", "'X'"])
    assert vip.members("ios", "vip") == {"present": {"attributes": {}, "tags": []}}


def test_the_maximum_number_of_ids_is_accepted(vip, audience_api):
    ids = [add(f"i{n}") for n in range(MAX_IDS_PER_CALL)]
    assert audience_api("PATCH", body={"ids": ids}).status_code == 201
    assert len(vip.members("ios", "vip")) == MAX_IDS_PER_CALL


# -- indexing ------------------------------------------------------------------------------------


def test_indexing_progresses_to_applied(vip, audience_api):
    token = audience_api("PATCH", body={"ids": [add("i1")]}).json()["indexing_token"]

    states = [audience_api("GET", params={"indexing_token": token}).json() for _ in range(4)]

    assert states == [{"indexing_state": "IN_PROGRESS"}] * 2 + [{"indexing_state": "APPLIED"}] * 2
    assert {call.route for call in vip.calls} == {"audience.update", "audience.indexing"}


def test_indexing_polls_is_a_setting(vip, audience_api):
    vip.indexing_polls = 0
    token = audience_api("PATCH", body={"ids": [add("i1")]}).json()["indexing_token"]
    assert audience_api("GET", params={"indexing_token": token}).json() == {"indexing_state": "APPLIED"}


def test_unknown_indexing_tokens_are_not_found(vip, audience_api):
    vip.create_audience("ios", "other")
    token = audience_api("PATCH", "other", {"ids": [add("i1")]}).json()["indexing_token"]

    assert_error(audience_api("GET", params={"indexing_token": "0" * 32}), 404, "ROUTE_NOT_FOUND", 20)
    assert_error(audience_api("GET", params={"indexing_token": token}), 404, "ROUTE_NOT_FOUND", 20)
    assert_error(audience_api("GET"), 400, "MISSING_PARAMETER", 30, ["indexing_token"])


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body, mentions", [
    ({}, ["'ids'"]),
    ({"ids": []}, ["'ids'"]),
    ({"ids": [{"id": "i1"}]}, ["ids[0]", "'action'"]),
    ({"ids": [{"action": "add"}]}, ["ids[0]", "'id'"]),
])
def test_missing_parameters(vip, audience_api, body, mentions):
    assert_error(audience_api("PATCH", body=body), 400, "MISSING_PARAMETER", 30, mentions)


@pytest.mark.parametrize("element, mentions", [
    ({"action": "delete", "id": "i1"}, ["'action'"]),
    ({"action": "add", "id": 12}, ["'id'"]),
    ({"action": "add", "id": "i1", "extra": 1}, ["unknown fields"]),
    ({**remove("i1"), "attributes": {"a": 1}}, ["only accepted with the add action"]),
    ({**remove("i1"), "tags": ["t"]}, ["only accepted with the add action"]),
    (add("i1", attributes={f"a{n}": n for n in range(MAX_ATTRIBUTES_PER_ID + 1)}), ["at most 15"]),
    (add("i1", attributes={"u.tier": "gold"}), ["'u.tier'", "no u. prefix"]),
    (add("i1", attributes={"date(u.day)": 1}), ["'date(u.day)'", "no u. prefix"]),
    (add("i1", attributes={"Tier": "gold"}), ["'Tier'"]),
    (add("i1", attributes={"a" * 31: 1}), ["'aaaa"]),
    (add("i1", attributes={"tier": ["gold"]}), ["'tier'"]),
    (add("i1", attributes={"tier": None}), ["'tier'", "null"]),
    (add("i1", attributes={"date(day)": "2012-08-12"}), ["'date(day)'"]),
    (add("i1", attributes={"url(link)": "example.com"}), ["'url(link)'"]),
    (add("i1", attributes={"day": 1, "date(day)": 1}), ["'date(day)'", "only one"]),
    (add("i1", attributes=["tier"]), ["'attributes'"]),
    (add("i1", tags="beta"), ["tags"]),
    (add("i1", tags=["beta", 2]), ["tags"]),
])
def test_malformed_elements(vip, audience_api, element, mentions):
    assert_error(audience_api("PATCH", body={"ids": [add("ok"), element]}), 400, "MALFORMED_PARAMETER", 31,
                 ["ids[1]", *mentions])
    assert vip.members("ios", "vip") == {}


@pytest.mark.parametrize("body", [{"ids": "i1"}, {"ids": [add("i1")], "extra": 1}, [add("i1")],
                                  {"ids": [add("i1")] * (MAX_IDS_PER_CALL + 1)}])
def test_malformed_bodies(vip, audience_api, body):
    assert_error(audience_api("PATCH", body=body), 400, "MALFORMED_PARAMETER", 31)


@pytest.mark.parametrize("kwargs", [
    {"data": '{"ids": []}', "headers": {"Content-Type": "text/plain"}},
    {"data": "{oops", "headers": {"Content-Type": "application/json"}},
])
def test_bodies_that_are_not_json(vip, audience_api, kwargs):
    assert_error(audience_api("PATCH", **kwargs), 400, "MALFORMED_JSON_BODY", 32)


# -- authentication and routing (shared with the Custom Data simulator) ---------------------------


def test_authentication(vip, audience_api):
    body = {"ids": [add("i1")]}
    for response in (audience_api("PATCH", body=body, rest_key=None),
                     audience_api("PATCH", body=body, rest_key="wrong"),
                     audience_api("PATCH", body=body, app_key="unknown-SECRET")):
        assert_error(response, 401, "AUTHENTICATION_INVALID", 10)
        assert "SECRET" not in response.text
    assert vip.members("ios", "vip") == {}


def test_apps_are_separate(vip, audience_api, keys):
    assert_error(audience_api("PATCH", body={"ids": [add("i1")]}, app_key=keys.android), 404,
                 "ROUTE_NOT_FOUND", 20)


@pytest.mark.parametrize("path", ["/1.1/{key}/custom-audience", "/1.1/{key}/custom-audience/vip/extra",
                                  "/1.0/{key}/custom-audience/vip"])
def test_unknown_routes(batch_audience, keys, path):
    response = requests.patch(batch_audience.url + path.format(key=keys.ios), json={"ids": [add("i1")]},
                              headers={"X-Authorization": keys.rest}, timeout=5)
    assert_error(response, 404, "ROUTE_NOT_FOUND", 20)
    assert keys.ios not in response.text
