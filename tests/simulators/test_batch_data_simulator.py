"""The Batch Custom Data simulator holds to the vendor page: routes, auth, every validation rule, semantics."""

import re

import pytest

from usersync_dev.simulators.batch import MAX_BULK_DELETE_IDS, MAX_BULK_USERS, MAX_URL_LENGTH

pytestmark = pytest.mark.integration

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def assert_error(response, status, error, code, mentions=()):
    assert response.status_code == status, response.text
    body = response.json()
    assert body.keys() == {"error_code", "error", "error_message"}
    assert (body["error"], body["error_code"]) == (error, code)
    for text in mentions:
        assert text in body["error_message"]
    return body["error_message"]


# -- success and semantics -----------------------------------------------------------------------


def test_single_update_stores_every_value_type(batch_data, data_api):
    response = data_api("POST", "/vincent", {"values": {
        "u.nickname": "The Rock",
        "u.force": 42,
        "u.level_progress": 45.09,
        "u.is_subscribed": True,
        "date(u.last_subscription)": "2016-01-10T10:00:00.000",
        "date(u.last_purchase)": 1472656161,
        "url(u.avatar)": "myapp://path/to/content",
        "ut.hobbies": ["Lifting", "Wrestling", "Lifting"],
    }})

    assert response.status_code == 200
    assert response.json().keys() == {"token"} and UUID4.fullmatch(response.json()["token"])
    assert batch_data.profile("ios", "vincent") == {
        "attributes": {"nickname": "The Rock", "force": 42, "level_progress": 45.09, "is_subscribed": True,
                       "last_subscription": "2016-01-10T10:00:00", "last_purchase": "2016-08-31T15:09:21",
                       "avatar": "myapp://path/to/content"},
        "attribute_types": {"nickname": "string", "force": "integer", "level_progress": "float",
                            "is_subscribed": "boolean", "last_subscription": "date", "last_purchase": "date",
                            "avatar": "url"},
        "tags": {"hobbies": ["Lifting", "Wrestling"]},
    }
    assert batch_data.tokens == [{"token": response.json()["token"], "app": "ios", "route": "data.single",
                                  "users": 1}]


def test_bulk_update_applies_to_each_user_of_the_app(batch_data, data_api):
    response = data_api("POST", body=[
        {"id": "Vincent", "update": {"values": {"u.nickname": "Vincent", "u.age": 55}}},
        {"id": "Johnny", "update": {"overwrite": True, "values": {"u.nickname": "BeGood", "u.age": 30}}},
    ])

    assert response.status_code == 200
    assert batch_data.profile("ios", "Johnny")["attributes"] == {"nickname": "BeGood", "age": 30}
    assert batch_data.users_count("ios") == 2
    assert batch_data.users_count("android") == 0  # one app per platform
    assert batch_data.profile("android", "Vincent") is None
    assert batch_data.tokens[0]["users"] == 2
    assert [(c.method, c.route, c.status, c.items) for c in batch_data.calls] == [("POST", "data.bulk", 200, 2)]


def test_null_removes_array_replaces_and_operators_edit(batch_data, data_api):
    data_api("POST", "/u1", {"values": {"u.a": 1, "u.b": 2, "ut.t1": ["x"], "ut.t2": ["a", "b"], "ut.t3": ["k"]}})

    data_api("POST", "/u1", {"values": {"u.a": None, "ut.t1": None, "ut.t2": {"$add": ["c"], "$remove": ["a"]},
                                        "ut.t3": ["new"]}})

    assert batch_data.profile("ios", "u1") == {"attributes": {"b": 2}, "attribute_types": {"b": "integer"},
                                               "tags": {"t2": ["b", "c"], "t3": ["new"]}}


def test_removing_everything_leaves_no_custom_data(batch_data, data_api):
    data_api("POST", "/u1", {"values": {"u.a": 1, "ut.t": ["x"]}})
    data_api("POST", "/u1", {"values": {"u.a": None, "ut.t": {"$remove": ["x"]}}})
    assert batch_data.profile("ios", "u1") is None


def test_overwrite_replaces_data_add_fills_an_empty_collection_and_remove_is_ignored(batch_data, data_api):
    data_api("POST", "/u1", {"values": {"u.old": "gone", "ut.places": ["Tokyo"], "ut.other": ["x"]}})

    response = data_api("POST", "/u1", {"overwrite": True, "values": {
        "u.nickname": "new", "ut.places": {"$add": ["Paris"]}, "ut.other": {"$remove": ["x"]}}})

    assert response.status_code == 200
    assert batch_data.profile("ios", "u1") == {"attributes": {"nickname": "new"},
                                               "attribute_types": {"nickname": "string"},
                                               "tags": {"places": ["Paris"]}}


def test_delete_one_and_bulk_delete(batch_data, data_api):
    data_api("POST", body=[{"id": f"u{i}", "update": {"values": {"u.n": i}}} for i in range(4)])

    assert data_api("DELETE", "/u0").status_code == 200
    response = data_api("DELETE", body=["u1", "u2", "never-seen"])

    assert response.status_code == 200 and UUID4.fullmatch(response.json()["token"])
    assert batch_data.users_count("ios") == 1 and batch_data.profile("ios", "u3")
    assert [t["route"] for t in batch_data.tokens] == ["data.bulk", "data.delete", "data.bulk_delete"]


def test_custom_ids_are_url_decoded(batch_data, data_api):
    assert data_api("POST", "/a%20b%2Fc", {"values": {"u.x": 1}}).status_code == 200
    assert batch_data.profile("ios", "a b/c") is not None


def test_the_same_id_twice_in_a_bulk_is_applied_in_order_when_names_differ(batch_data, data_api):
    response = data_api("POST", body=[{"id": "u", "update": {"values": {"u.a": 1, "ut.a": ["x"]}}},
                                      {"id": "u", "update": {"values": {"u.b": 2}}},
                                      {"id": "other", "update": {"values": {"u.a": 3}}}])
    assert response.status_code == 200
    assert batch_data.profile("ios", "u")["attributes"] == {"a": 1, "b": 2}


@pytest.mark.parametrize("value", ["2016-01-10T10:00:00", "2016-01-10T10:00:00.000", 1452420000])
def test_accepted_dates_are_stored_in_utc(batch_data, data_api, value):
    assert data_api("POST", "/u", {"values": {"date(u.d)": value}}).status_code == 200
    assert batch_data.profile("ios", "u")["attributes"]["d"] == "2016-01-10T10:00:00"


def test_limits_are_inclusive(data_api):
    name = "a" * 30
    url = "https://x.io/" + "p" * (MAX_URL_LENGTH - len("https://x.io/"))
    assert data_api("POST", "/u", {"values": {f"u.{name}": 1, "url(u.link)": url}}).status_code == 200


def test_a_bulk_of_the_maximum_size_is_accepted(data_api):
    users = [{"id": str(i), "update": {"values": {}}} for i in range(MAX_BULK_USERS)]
    assert data_api("POST", body=users).status_code == 200


# -- authentication and routing ------------------------------------------------------------------


@pytest.mark.parametrize("rest_key", [None, "wrong"])
def test_a_missing_or_wrong_rest_key_is_refused(batch_data, data_api, rest_key):
    assert_error(data_api("POST", "/u", {"values": {}}, rest_key=rest_key),
                 401, "AUTHENTICATION_INVALID", 10, ["X-Authorization"])
    assert batch_data.users_count("ios") == 0 and batch_data.tokens == []


def test_an_unknown_app_key_is_refused_without_echoing_it(data_api):
    message = assert_error(data_api("POST", "/u", {"values": {}}, app_key="not-an-app-SECRET"),
                           401, "AUTHENTICATION_INVALID", 10)
    assert "SECRET" not in message


@pytest.mark.parametrize("method, path", [("GET", "/u"), ("PUT", ""), ("POST", "/u/extra"), ("POST", "/")])
def test_unknown_routes_answer_route_not_found(data_api, keys, method, path):
    message = assert_error(data_api(method, path, {"values": {}}), 404, "ROUTE_NOT_FOUND", 20)
    assert keys.ios not in message and keys.rest not in message


# -- malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"data": '{"values": {}}', "headers": {"Content-Type": "text/plain"}},
    {"data": '{"values": {}}'},  # no Content-Type at all
    {"data": "{not json", "headers": {"Content-Type": "application/json"}},
    {"data": '{"values": {"u.x": NaN}}', "headers": {"Content-Type": "application/json"}},
    {"data": b'{"values": {"u.x": "\xff"}}', "headers": {"Content-Type": "application/json"}},
])
def test_bodies_that_are_not_json_answer_malformed_json_body(batch_data, data_api, kwargs):
    assert_error(data_api("POST", "/u", **kwargs), 400, "MALFORMED_JSON_BODY", 32)
    assert batch_data.tokens == []


def test_json_with_a_charset_is_accepted(data_api):
    response = data_api("POST", "/u", data='{"values": {}}',
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200


@pytest.mark.parametrize("path, body, mentions", [
    ("/u", {"overwrite": True}, ["'values'"]),
    ("", [{"update": {"values": {}}}], ["users[0]", "'id'"]),
    ("", [{"id": "a", "update": {"values": {}}}, {"id": "b"}], ["users[1]", "'b'", "'update'"]),
    ("", [{"id": "a", "update": {}}], ["users[0]", "'values'"]),
    ("", [], ["empty"]),
])
def test_missing_parameters(data_api, path, body, mentions):
    assert_error(data_api("POST", path, body), 400, "MISSING_PARAMETER", 30, mentions)


def test_more_than_the_maximum_users_is_malformed(batch_data, data_api):
    users = [{"id": str(i), "update": {"values": {"u.x": 1}}} for i in range(MAX_BULK_USERS + 1)]
    assert_error(data_api("POST", body=users), 400, "MALFORMED_PARAMETER", 31, ["10000"])
    assert batch_data.users_count("ios") == 0


@pytest.mark.parametrize("key", [
    "u.Nickname", "u.nick-name", "u." + "a" * 31, "nickname", "x.nickname", "u.", "U.nickname",
    "date(ut.x)", "url(x)", "date(u.x", "ut.Tags",
])
def test_invalid_keys_are_malformed_and_named(data_api, key):
    value = ["t"] if key.startswith("ut") else 1
    assert_error(data_api("POST", "/u", {"values": {key: value}}), 400, "MALFORMED_PARAMETER", 31,
                 [repr(key), "user 'u'"])


@pytest.mark.parametrize("key, value", [
    ("u.x", [1]), ("u.x", {"a": 1}),
    ("date(u.d)", 1.5), ("date(u.d)", True), ("date(u.d)", "2016-01-10T10:00:00Z"),
    ("date(u.d)", "2016-01-10 10:00:00"), ("date(u.d)", "2016-01-10T10:00:00.000000"),
    ("date(u.d)", "2016-13-10T10:00:00"), ("date(u.d)", "10/01/2016"), ("date(u.d)", 10 ** 20),
    ("url(u.l)", "www.example.com"), ("url(u.l)", "https:/x"), ("url(u.l)", "://x"), ("url(u.l)", 42),
    ("url(u.l)", "https://x.io/" + "p" * MAX_URL_LENGTH),
    ("ut.t", "single"), ("ut.t", [1, 2]), ("ut.t", {}), ("ut.t", {"$set": ["a"]}), ("ut.t", {"$add": "a"}),
    ("ut.t", {"$add": ["a"], "$remove": [None]}),
])
def test_invalid_values_are_malformed_and_named(data_api, key, value):
    assert_error(data_api("POST", "/u", {"values": {key: value}}), 400, "MALFORMED_PARAMETER", 31, [repr(key)])


@pytest.mark.parametrize("update", [
    {"overwrite": "true", "values": {}},
    {"values": []},
    {"values": {}, "overwite": True},
    [],
])
def test_malformed_updates(data_api, update):
    assert_error(data_api("POST", "/u", update), 400, "MALFORMED_PARAMETER", 31)


@pytest.mark.parametrize("body", [{"id": "u"}, [{"id": 7, "update": {"values": {}}}],
                                  [{"id": "", "update": {"values": {}}}], ["u"],
                                  [{"id": "u", "update": {"values": {}}, "extra": 1}]])
def test_malformed_bulk_bodies(data_api, body):
    assert_error(data_api("POST", body=body), 400, "MALFORMED_PARAMETER", 31)


@pytest.mark.parametrize("values", [
    {"u.x": 1, "date(u.x)": 2},
    {"u.x": 1, "url(u.x)": "https://x"},
    {"date(u.x)": 1, "url(u.x)": "https://x"},
])
def test_one_operation_per_attribute_name(data_api, values):
    assert_error(data_api("POST", "/u", {"values": values}), 400, "MALFORMED_PARAMETER", 31,
                 ["only one operation"])


def test_one_operation_per_name_across_a_repeated_id_in_a_bulk(data_api):
    body = [{"id": "u", "update": {"values": {"ut.t": ["a"]}}},
            {"id": "u", "update": {"values": {"ut.t": {"$add": ["b"]}}}}]
    assert_error(data_api("POST", body=body), 400, "MALFORMED_PARAMETER", 31,
                 ["users[1]", "'u'", "'ut.t'", "only one operation"])


def test_an_attribute_and_a_tag_collection_may_share_a_name(data_api):
    assert data_api("POST", "/u", {"values": {"u.x": 1, "ut.x": ["a"]}}).status_code == 200


def test_a_bulk_call_is_rejected_as_a_whole(batch_data, data_api):
    data_api("POST", "/existing", {"values": {"u.keep": 1}})
    body = [{"id": "existing", "update": {"overwrite": True, "values": {"u.new": 1}}},
            {"id": "fresh", "update": {"values": {"u.x": 1}}},
            {"id": "bad", "update": {"values": {"u.Bad": 1}}}]

    assert_error(data_api("POST", body=body), 400, "MALFORMED_PARAMETER", 31, ["users[2]", "'bad'", "'u.Bad'"])

    assert batch_data.profile("ios", "existing")["attributes"] == {"keep": 1}
    assert batch_data.profile("ios", "fresh") is None
    assert len(batch_data.tokens) == 1


@pytest.mark.parametrize("body, error, code", [
    ([], "MISSING_PARAMETER", 30),
    (["a", 1], "MALFORMED_PARAMETER", 31),
    ({"ids": ["a"]}, "MALFORMED_PARAMETER", 31),
    ([str(i) for i in range(MAX_BULK_DELETE_IDS + 1)], "MALFORMED_PARAMETER", 31),
])
def test_bulk_delete_validation(data_api, body, error, code):
    assert_error(data_api("DELETE", body=body), 400, error, code)


def test_errors_and_the_call_log_never_hold_a_key(batch_data, data_api, keys):
    responses = [data_api("POST", "/u", {"values": {"u.X": 1}}), data_api("GET", "/u"),
                 data_api("POST", "/u", {"values": {}}, rest_key="bad"),
                 data_api("POST", "/u", {"values": {}}, app_key="other")]
    for secret in (keys.rest, keys.ios):
        assert all(secret not in response.text for response in responses)
        assert secret not in repr(batch_data.calls)
    assert [call.route for call in batch_data.calls] == ["data.single", "unknown", "data.single", "data.single"]
