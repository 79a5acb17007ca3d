"""CleverTap's answers -> outcomes: the 200 body read record by record, HTTP statuses, regions, dry run.
A fake session stands for the network (the simulator tests are in tests/integration)."""

import json

import pytest
import requests

from usersync.vendors.clevertap.client import CleverTapClient, base_url, read_upload_answer
from usersync.delivery.outcomes import VendorRejected, VendorUnavailable
from usersync.secrets import Secret
from usersync.settings import VendorAccessSettings

RECORDS = [{"identity": f"u{i}", "type": "profile", "profileData": {"Gender": "M", "n": i}} for i in range(3)]


def unprocessed(record, code=514, error="Invalid gender"):
    return {"status": "fail", "code": code, "error": error, "record": record}


def test_success_delivers_every_record():
    answer = read_upload_answer({"status": "success", "processed": 3, "unprocessed": []}, RECORDS)
    assert answer.processed == 3 and answer.rejected == {}


def test_partial_rejects_exactly_the_unprocessed_records_with_cleverTaps_code_and_message():
    body = {"status": "partial", "processed": 2, "unprocessed": [unprocessed(RECORDS[1])]}
    answer = read_upload_answer(body, RECORDS)
    assert answer.processed == 2 and list(answer.rejected) == [1]
    why = answer.rejected[1]
    assert (why.code, why.vendor_status, why.vendor_code, why.field) == ("VENDOR_REJECTED", 200, 514, "attributes.Gender")
    assert "Invalid gender" in why.message and not why.retryable


def test_unprocessed_entries_are_matched_by_identity_in_any_order_even_when_echoed_as_text():
    echoed = [dict(RECORDS[2], profileData={"changed": "by the vendor"}), json.dumps(RECORDS[0])]
    body = {"status": "partial", "processed": 1, "unprocessed": [unprocessed(r, 515, "bad email") for r in echoed]}
    assert sorted(read_upload_answer(body, RECORDS).rejected) == [0, 2]


def test_a_fail_body_is_never_a_success_even_without_per_record_entries():
    answer = read_upload_answer({"status": "fail", "processed": 0, "error": "Bad payload", "code": 400}, RECORDS)
    assert answer.processed == 0 and sorted(answer.rejected) == [0, 1, 2]
    assert all("Bad payload" in why.message and why.vendor_code == 400 for why in answer.rejected.values())


def test_a_fail_body_with_entries_rejects_each_with_its_own_code():
    body = {"status": "fail", "processed": 0,
            "unprocessed": [unprocessed(RECORDS[0], 523, "Missing identity"), unprocessed(RECORDS[1]),
                            unprocessed(RECORDS[2], 525, "ts not epoch")]}
    rejected = read_upload_answer(body, RECORDS).rejected
    assert {i: (w.vendor_code, w.field) for i, w in rejected.items()} == {
        0: (523, "user_id"), 1: (514, "attributes.Gender"), 2: (525, None)}


@pytest.mark.parametrize("code", [509, 514, 515, 516, 517, 518, 519, 520, 523, 524, 525, 526, 555, 999])
def test_every_per_record_code_is_reported_as_cleverTap_gave_it(code):
    body = {"status": "partial", "processed": 2, "unprocessed": [unprocessed(RECORDS[2], code, f"error {code}")]}
    why = read_upload_answer(body, RECORDS).rejected[2]
    assert (why.vendor_status, why.vendor_code) == (200, code) and f"error {code}" in why.message
    assert why.retryable is (code == 555)


def test_a_server_error_for_one_record_is_marked_retryable():
    body = {"status": "partial", "processed": 2, "unprocessed": [unprocessed(RECORDS[0], 555, "server error")]}
    assert read_upload_answer(body, RECORDS).rejected[0].retryable


def test_failures_that_cannot_be_placed_leave_no_record_counted_delivered():
    body = {"status": "partial", "processed": 2, "unprocessed": [unprocessed({"identity": "stranger"})]}
    answer = read_upload_answer(body, RECORDS)
    assert answer.processed == 0 and all(why.retryable for why in answer.rejected.values())
    assert "may or may not" in answer.rejected[0].message


def test_a_processed_count_short_of_the_records_is_not_taken_for_success():
    answer = read_upload_answer({"status": "partial", "processed": 1, "unprocessed": []}, RECORDS)
    assert sorted(answer.rejected) == [0, 1, 2]


@pytest.mark.parametrize("body", [{"status": "queued"}, ["success"], {"status": "partial", "unprocessed": "x"}])
def test_an_undocumented_200_body_is_retried_not_trusted(body):
    with pytest.raises(VendorUnavailable):
        read_upload_answer(body, RECORDS)


# --- HTTP --------------------------------------------------------------------------------------


def response(status, body, headers=None):
    answer = requests.Response()
    answer.status_code, answer.headers = status, requests.structures.CaseInsensitiveDict(headers or {})
    answer._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return answer


class FakeSession:
    def __init__(self, answer):
        self.answer, self.requests = answer, []

    def post(self, url, **kwargs):
        self.requests.append((url, kwargs))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def client(answer, region="in1"):
    session = FakeSession(answer)
    return CleverTapClient("ACC-1", Secret("passcode-SECRET-1"), region, session=session, timeout_s=5), session


def test_the_call_carries_the_documented_headers_and_body():
    api, session = client(response(200, {"status": "success", "processed": 1, "unprocessed": []}))
    api.upload(RECORDS[:1])
    [(url, kwargs)] = session.requests
    assert url == "https://in1.api.clevertap.com/1/upload" and kwargs["params"] is None
    assert kwargs["headers"] == {"X-CleverTap-Account-Id": "ACC-1", "X-CleverTap-Passcode": "passcode-SECRET-1",
                                 "Content-Type": "application/json; charset=utf-8"}
    assert json.loads(kwargs["data"]) == {"d": RECORDS[:1]}


def test_dry_run_adds_dryRun_1():
    api, session = client(response(200, {"status": "success", "processed": 1, "unprocessed": []}))
    api.upload(RECORDS[:1], dry_run=True)
    assert session.requests[0][1]["params"] == {"dryRun": "1"}


@pytest.mark.parametrize("region, url", [("eu1", "https://api.clevertap.com"), ("in1", "https://in1.api.clevertap.com"),
                                         ("sg1", "https://sg1.api.clevertap.com"), ("us1", "https://us1.api.clevertap.com"),
                                         ("aps3", "https://aps3.api.clevertap.com"),
                                         ("mec1", "https://mec1.api.clevertap.com")])
def test_regional_hosts(region, url):
    assert base_url(region) == url


def test_CLEVERTAP_API_URL_replaces_the_host_with_the_region_substituted():
    endpoints = VendorAccessSettings.from_environment({"CLEVERTAP_API_URL": "http://127.0.0.1:9/{region}/"})
    assert base_url("sg1", endpoints.vendor_context().endpoints.clevertap) == "http://127.0.0.1:9/sg1"
    assert base_url("sg1", "http://127.0.0.1:9") == "http://127.0.0.1:9"


def test_401_is_a_rejection_that_points_at_the_region():
    api, _ = client(response(401, {"status": "fail", "error": "Invalid Credentials", "code": 401}))
    with pytest.raises(VendorRejected) as caught:
        api.upload(RECORDS)
    assert caught.value.status == 401 and caught.value.is_configuration_problem
    assert "check the account id, the passcode and the account's region (configured: in1)" in caught.value.message


@pytest.mark.parametrize("status, headers, retry_after", [(429, {}, None), (429, {"Retry-After": "7"}, 7.0),
                                                          (500, {}, None), (503, {}, None)])
def test_429_and_5xx_are_worth_retrying(status, headers, retry_after):
    api, _ = client(response(status, {"status": "fail", "error": "Too many concurrent requests", "code": status}, headers))
    with pytest.raises(VendorUnavailable) as caught:
        api.upload(RECORDS)
    assert caught.value.status == status and caught.value.retry_after_s == retry_after


def test_other_4xx_reject_the_call_with_cleverTaps_code():
    api, _ = client(response(400, {"status": "fail", "error": "Payload too large", "code": 400}))
    with pytest.raises(VendorRejected) as caught:
        api.upload(RECORDS)
    assert (caught.value.status, caught.value.code, caught.value.message) == (400, 400, "Payload too large")


def test_a_dropped_connection_is_retried_and_its_text_redacted():
    api, _ = client(requests.ConnectionError("reset while sending passcode-SECRET-1"))
    with pytest.raises(VendorUnavailable) as caught:
        api.upload(RECORDS)
    assert "passcode-SECRET-1" not in str(caught.value)
    assert caught.value.maybe_applied is True  # the request may have arrived: increments must not be resent blindly


def test_a_connection_never_made_is_known_not_applied():
    api, _ = client(requests.ConnectTimeout("connect timed out"))
    with pytest.raises(VendorUnavailable) as caught:
        api.upload(RECORDS)
    assert caught.value.maybe_applied is False


def test_a_200_that_is_not_json_is_retried():
    api, _ = client(response(200, "<html>gateway</html>"))
    with pytest.raises(VendorUnavailable):
        api.upload(RECORDS)


def test_records_a_dry_run_accepted_count_as_validated_not_delivered():
    from usersync.delivery.pipeline import DeliveryReport
    from usersync.delivery.settle import Completion

    report = DeliveryReport(completions=[Completion("ct", None, dry_run=True), Completion("ct", None, dry_run=True),
                                         Completion("live", None)])
    assert report.delivered == {"live": 1} and report.validated == {"ct": 2}


def test_a_deletion_posts_the_identities_to_the_delete_route():
    api, session = client(response(200, {"status": "success"}))
    assert api.delete_profiles(["a", "b"]) == {}
    [(url, kwargs)] = session.requests
    assert url == "https://in1.api.clevertap.com/1/delete/profiles.json"
    assert json.loads(kwargs["data"]) == {"identity": ["a", "b"]}
    assert kwargs["headers"]["X-CleverTap-Passcode"] == "passcode-SECRET-1"


@pytest.mark.parametrize("body", [{"status": "fail", "error": "nope", "code": 400}, {"status": "partial"}, [], 7])
def test_a_200_deletion_answer_that_is_not_success_confirms_no_one(body):
    api, _ = client(response(200, body))
    refused = api.delete_profiles(["a", "b"])
    assert sorted(refused) == [0, 1] and all(why.retryable and why.vendor_status == 200 for why in refused.values())


def test_a_refused_deletion_call_is_a_rejection_and_a_5xx_is_retried():
    api, _ = client(response(400, {"status": "fail", "error": "bad identity", "code": 400}))
    with pytest.raises(VendorRejected, match="bad identity"):
        api.delete_profiles(["a"])
    api, _ = client(response(503, {"status": "fail", "error": "down", "code": 503}))
    with pytest.raises(VendorUnavailable, match="delete profiles"):
        api.delete_profiles(["a"])
