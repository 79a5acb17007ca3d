"""The CleverTap simulator holds to the Upload User Profiles page: regions, auth, limits, per-record results."""

import threading

import pytest

from usersync_dev.simulators.clevertap import MAX_CUSTOM_KEYS, MAX_KEY_BYTES, MAX_VALUE_BYTES

pytestmark = pytest.mark.integration

OBJECT_ID = "25b08803c1af4e00839f530264dac6f8"


def profile(identity="1189549", **data):
    return {"identity": identity, "ts": 1468308340, "type": "profile", "profileData": data}


def assert_fail(response, status, error=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body.keys() == {"status", "error", "code"}
    assert (body["status"], body["code"]) == ("fail", status)
    if error is not None:
        assert body["error"] == error


def assert_unprocessed(response, code, mentions=()):
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["processed"]) == ("fail", 0)
    (failure,) = body["unprocessed"]
    assert failure["status"] == "fail" and failure["code"] == code, failure
    for text in mentions:
        assert text in failure["error"]
    return failure


# -- success -------------------------------------------------------------------------------------


def test_a_profile_upload_is_stored(clevertap, upload):
    response = upload([profile(**{
        "Name": "Jack Montana", "Email": "jack@example.com", "Phone": "+14155551234", "Gender": "M",
        "Employed": "Y", "Education": "Graduate", "Married": "N", "Age": 41, "MSG-sms": False,
        "DOB": "$D_1487576752", "Customer Type": "Platinum", "Hobbies": ["golf", "chess", "golf"],
        "category-unsubscribe": {"email": ["Newsletters", "Promotions"]},
    })])

    assert (response.status_code, response.json()) == (200, {"status": "success", "processed": 1, "unprocessed": []})
    assert clevertap.profile("ACC-EU-0001", "1189549") == {
        "Name": "Jack Montana", "Email": "jack@example.com", "Phone": "+14155551234", "Gender": "M",
        "Employed": "Y", "Education": "Graduate", "Married": "N", "Age": 41, "MSG-sms": False,
        "DOB": "$D_1487576752", "Customer Type": "Platinum", "Hobbies": ["chess", "golf"],
        "category-unsubscribe": {"email": ["Newsletters", "Promotions"]},
    }
    assert clevertap.custom_keys("ACC-EU-0001") == {"Customer Type", "Hobbies"}
    assert clevertap.uploads == 1
    assert [(c.route, c.status, c.items) for c in clevertap.calls] == [("upload", 200, 1)]


def test_other_identifiers_are_accepted(clevertap, upload):
    records = [{"objectId": OBJECT_ID, "type": "profile", "profileData": {"Name": "A"}},
               {"FBID": "fb-1", "type": "profile", "profileData": {"Name": "B"}},
               {"GPID": "gp-1", "type": "profile", "profileData": {"Name": "C"}},
               {"identity": "e1", "type": "event", "evtName": "Charged", "evtData": {"Amount": 3}}]
    assert upload(records).json() == {"status": "success", "processed": 4, "unprocessed": []}
    assert clevertap.profile("ACC-EU-0001", OBJECT_ID, kind="objectId") == {"Name": "A"}
    assert clevertap.profile("ACC-EU-0001", "fb-1", kind="FBID") == {"Name": "B"}
    assert clevertap.profile("ACC-EU-0001", "e1") is None  # events are not profiles


def test_records_are_applied_in_order_with_operators(clevertap, upload):
    records = [profile(Name="Jack", Gender="M", Points=10, Credits=5.5, Tags=["a", "b"]),
               profile(Points={"$incr": 3}, Credits={"$decr": 0.5}, Tags={"$add": ["c", "a"]}),
               profile(Tags={"$remove": ["b"]}, Name={"$delete": 1}, Gender={"$delete": 1}),
               profile(New={"$add": ["x"]}, Gone={"$remove": ["y"]})]

    assert upload(records).json()["status"] == "success"
    assert clevertap.profile("ACC-EU-0001", "1189549") == {"Points": 13, "Credits": 5.0, "Tags": ["a", "c"],
                                                          "New": ["x"]}


def test_dry_run_validates_without_writing(clevertap, upload):
    response = upload([profile(Name="Jack"), profile(Gender="Male")], path="/1/upload?dryRun=1")

    assert response.json()["status"] == "partial"
    assert clevertap.profile("ACC-EU-0001", "1189549") is None
    assert clevertap.custom_keys("ACC-EU-0001") == set() and clevertap.uploads == 0


def test_partial_and_fail_echo_each_failed_record_as_sent(upload):
    bad = profile("bad", Gender="Male")

    partial = upload([profile(Name="ok"), bad]).json()
    failed = upload([bad, {"type": "profile"}]).json()

    assert partial == {"status": "partial", "processed": 1, "unprocessed": [
        {"status": "fail", "code": 514, "error": "Gender must be M, F or O", "record": bad}]}
    assert failed["status"] == "fail" and failed["processed"] == 0
    assert [u["code"] for u in failed["unprocessed"]] == [514, 523]


# -- regions and authentication ------------------------------------------------------------------


def test_each_account_answers_in_its_own_region_only(upload, keys):
    in1 = {"account": keys.in_account, "passcode": keys.in_passcode}
    assert upload([profile(Name="A")], path="/in1/1/upload", **in1).status_code == 200
    assert upload([profile(Name="A")], path="/eu1/1/upload").status_code == 200
    assert_fail(upload([profile(Name="A")], path="/1/upload", **in1), 401, "Invalid Credentials")
    assert_fail(upload([profile(Name="A")], path="/us1/1/upload"), 401, "Invalid Credentials")


@pytest.mark.parametrize("account, passcode", [(None, None), ("ACC-EU-0001", None), ("ACC-EU-0001", "wrong"),
                                               ("ACC-UNKNOWN", "pass-SECRET-eu"), (None, "pass-SECRET-eu")])
def test_bad_credentials(clevertap, upload, account, passcode):
    response = upload([profile(Name="A")], account=account, passcode=passcode)
    assert_fail(response, 401, "Invalid Credentials")
    assert "SECRET" not in response.text and clevertap.uploads == 0


@pytest.mark.parametrize("path", ["/xx1/1/upload", "/1/upload/", "/1/profiles.json", "/eu1/upload"])
def test_unknown_routes(upload, path):
    assert_fail(upload([profile(Name="A")], path=path), 404)


# -- request-level errors ------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1"])
def test_content_type_must_be_json_utf8(upload, content_type):
    assert_fail(upload([profile(Name="A")], headers={"Content-Type": content_type}), 400)


def test_json_without_charset_is_accepted(upload):
    assert upload([profile(Name="A")], headers={"Content-Type": "application/json"}).status_code == 200


@pytest.mark.parametrize("kwargs", [
    {"data": "{not json"}, {"body": []}, {"body": {}}, {"body": {"d": {}}}, {"records": []},
    {"body": {"d": [profile(Name="A")], "extra": 1}}, {"records": [profile(Name="A")] * 101},
])
def test_bodies_must_hold_one_to_max_records(clevertap, upload, kwargs):
    assert_fail(upload(**kwargs), 400)
    assert clevertap.uploads == 0


def test_max_records_is_inclusive(upload):
    assert upload([profile(str(n), Name="A") for n in range(100)]).json()["processed"] == 100


# -- per-record validation -----------------------------------------------------------------------


@pytest.mark.parametrize("record, code, mentions", [
    ({"type": "profile", "profileData": {}}, 523, ["exactly one"]),
    ({"identity": "", "type": "profile", "profileData": {}}, 523, ["exactly one"]),
    ({"identity": "a", "FBID": "b", "type": "profile", "profileData": {}}, 523, ["identity", "FBID"]),
    ({"identity": 42, "type": "profile", "profileData": {}}, 523, ["string"]),
    ({"identity": "a", "profileData": {}}, 524, ["type"]),
    ({"identity": "a", "type": "user", "profileData": {}}, 524, ["'user'"]),
    ({**profile(), "ts": "1468308340"}, 525, ["ts"]),
    ({**profile(), "ts": 1468308340000}, 525, ["seconds"]),
    ({**profile(), "ts": 1.5}, 525, ["ts"]),
    ({"objectId": "not-an-id", "type": "profile", "profileData": {}}, 526, ["objectId"]),
    ({"identity": "a", "type": "profile"}, 509, ["profileData"]),
    ({"identity": "a", "type": "profile", "profileData": []}, 509, ["profileData"]),
    ({**profile(), "profiledata": {}}, 509, ["profiledata"]),
    ({"identity": "a", "type": "event", "evtData": {}}, 509, ["evtName"]),
    ("not a record", 509, ["object"]),
])
def test_record_shape(upload, record, code, mentions):
    failure = assert_unprocessed(upload([record]), code, mentions)
    assert failure["record"] == record


@pytest.mark.parametrize("data, code, mentions", [
    ({"Gender": "Male"}, 514, ["Gender"]),
    ({"Email": "jack.example.com"}, 515, ["Email"]),
    ({"Phone": "0612345678"}, 516, ["Phone"]),
    ({"Phone": "+33 6 12 34 56 78"}, 516, ["Phone"]),
    ({"Employed": "yes"}, 517, ["Employed"]),
    ({"Education": "PhD"}, 518, ["Education"]),
    ({"Married": True}, 519, ["Married"]),
    ({"Age": "41"}, 520, ["Age"]),
    ({"k" * (MAX_KEY_BYTES + 1): 1}, 512, ["bytes"]),
    ({"é" * 61: 1}, 512, ["bytes"]),  # 122 bytes in UTF-8
    ({"Note": "é" * (MAX_VALUE_BYTES // 2 + 1)}, 512, ["'Note'", "bytes"]),
    ({"Tags": ["x" * (MAX_VALUE_BYTES + 1)]}, 512, ["'Tags'"]),
    ({"Tags": {"$add": ["x" * (MAX_VALUE_BYTES + 1)]}}, 512, ["'Tags'"]),
    ({"Note": None}, 509, ["'Note'", "null"]),
    ({"Note": {"a": 1}}, 509, ["'Note'", "unknown operator"]),
    ({"Points": {"$set": 1}}, 509, ["unknown operator '$set'"]),
    ({"Points": {"$incr": 1, "$decr": 1}}, 509, ["one operator"]),
    ({"Points": {"$incr": 1}}, 509, ["'Points'", "existing numeric value"]),
    ({"Points": {"$incr": "1"}}, 509, ["takes a number"]),
    ({"Email": {"$delete": 1}}, 509, ["Name and Gender"]),
    ({"Name": {"$delete": True}}, 509, ["$delete takes 1"]),
    ({"Tags": {"$add": "x"}}, 509, ["array of strings"]),
    ({"Tags": [1, 2]}, 509, ["strings only"]),
    ({"DOB": "$D_yesterday"}, 509, ["$D_"]),
    ({"MSG-sms": "no"}, 509, ["boolean"]),
    ({"category-unsubscribe": {"email": "all"}}, 509, ["channel"]),
])
def test_profile_data_rules(clevertap, upload, data, code, mentions):
    assert_unprocessed(upload([profile(**data)]), code, mentions)
    assert clevertap.profile("ACC-EU-0001", "1189549") is None


def test_operators_need_a_fitting_current_value(upload):
    upload([profile(Name="Jack", Label="x", Flag=True)])

    assert_unprocessed(upload([profile(Label={"$incr": 1})]), 509, ["existing numeric value"])
    assert_unprocessed(upload([profile(Flag={"$decr": 1})]), 509, ["existing numeric value"])
    assert_unprocessed(upload([profile(Name={"$add": ["y"]})]), 509, ["not a multi-value"])


def test_limits_are_inclusive(upload):
    response = upload([profile(**{"k" * MAX_KEY_BYTES: "v" * MAX_VALUE_BYTES})])
    assert response.json()["status"] == "success"


def test_custom_keys_are_limited_per_account(clevertap, upload, keys):
    first = {f"key_{n}": n for n in range(MAX_CUSTOM_KEYS - 1)}
    assert upload([profile(**first)]).json()["status"] == "success"

    response = upload([profile("b", **{"key_0": 1, "Name": "x", "MSG-email": True, "last_one": 1}),
                       profile("c", one_too_many=1),
                       profile("d", key_1=2)])

    assert response.json()["status"] == "partial"
    assert [(u["code"], u["record"]["identity"]) for u in response.json()["unprocessed"]] == [(512, "c")]
    assert len(clevertap.custom_keys(keys.eu_account)) == MAX_CUSTOM_KEYS
    assert clevertap.custom_keys(keys.in_account) == set()


# -- concurrency ---------------------------------------------------------------------------------


def upload_in_parallel(upload, count, **kwargs):
    responses = []
    threads = [threading.Thread(target=lambda: responses.append(upload([profile(Name="A")], **kwargs)))
               for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_too_many_concurrent_requests_per_account_get_429(clevertap, upload):
    clevertap.latency_s = 0.3  # keeps every request in flight while the others arrive

    responses = upload_in_parallel(upload, 5)

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 429, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert_fail(refused, 429, "Too many concurrent requests")
    assert "Retry-After" not in refused.headers
    assert upload([profile(Name="A")]).status_code == 200  # the slots are free again


def test_the_concurrency_limit_is_per_account(clevertap, upload, keys):
    clevertap.latency_s = 0.3
    in1 = {"account": keys.in_account, "passcode": keys.in_passcode, "path": "/in1/1/upload"}
    responses = []
    threads = [threading.Thread(target=lambda: responses.extend(upload_in_parallel(upload, 3))),
               threading.Thread(target=lambda: responses.extend(upload_in_parallel(upload, 3, **in1)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in responses] == [200] * 6


# -- Delete User Profile -------------------------------------------------------------------------


def test_delete_removes_the_profiles_named_by_identity_or_guid(clevertap, upload):
    upload([profile("a", Plan="x"), profile("b", Plan="y"), {"objectId": OBJECT_ID, "ts": 1468308340,
                                                              "type": "profile", "profileData": {"Plan": "z"}}])
    gone = upload(path="/1/delete/profiles.json", body={"identity": ["a", "missing"]})
    assert (gone.status_code, gone.json()["status"]) == (200, "success")
    assert upload(path="/1/delete/profiles.json", body={"guid": OBJECT_ID}).status_code == 200
    assert clevertap.profile("ACC-EU-0001", "a") is None and clevertap.profile("ACC-EU-0001", "b") == {"Plan": "y"}
    assert clevertap.deleted == [("ACC-EU-0001", "identity", "a"), ("ACC-EU-0001", "identity", "missing"),
                                 ("ACC-EU-0001", "guid", OBJECT_ID)]


@pytest.mark.parametrize("body", [
    {"identity": ["a"], "guid": ["g"]},  # never both in one request
    {}, {"identity": []}, {"identity": [""]}, {"identity": [1]}, {"ids": ["a"]}, ["a"],
    {"identity": [f"u{n}" for n in range(101)]},  # at most 100
])
def test_a_delete_body_outside_the_page_is_refused_and_deletes_nothing(clevertap, upload, body):
    upload([profile("a")])
    assert_fail(upload(path="/1/delete/profiles.json", body=body), 400)
    assert clevertap.profile("ACC-EU-0001", "a") is not None and clevertap.deleted == []


def test_delete_takes_100_identities_and_answers_in_the_accounts_region_only(clevertap, upload, keys):
    assert upload(path="/1/delete/profiles.json", body={"identity": [f"u{n}" for n in range(100)]}).status_code == 200
    assert upload(path="/in1/1/delete/profiles.json", account=keys.in_account, passcode=keys.in_passcode,
                  body={"identity": "x"}).status_code == 200
    assert upload(path="/1/delete/profiles.json", account=keys.in_account, passcode=keys.in_passcode,
                  body={"identity": "x"}).status_code != 200
    assert upload(path="/1/delete/profiles.json", passcode="wrong", body={"identity": "x"}).status_code == 401
