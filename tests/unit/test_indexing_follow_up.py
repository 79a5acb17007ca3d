"""Following indexing tokens, with in-memory fakes for the table and the vendor."""

from datetime import datetime, timedelta, timezone

from usersync.delivery.outcomes import Delivery, VendorRejected, VendorUnavailable
from usersync.work.follow_indexing import IndexingFollowUp
from usersync.stores.indexing import PendingToken
from usersync.stores.tokens import TokenStore

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def test_an_indexing_token_is_saved_pending_with_its_audience_and_a_call_without_token_gets_a_unique_key():
    store = TokenStore("t", client=object())
    indexing, *uploads = [store.item(d, now=T0) for d in (
        Delivery("aud", "batch_audience", "tok", "indexing", [], {"audience": "vip"}, call_id="1" * 32),
        Delivery("ct", "clevertap", None, "upload", [], call_id="2" * 32),
        Delivery("ct", "clevertap", None, "upload", [], call_id="3" * 32))]
    assert indexing["audience"] == {"S": "vip"} and indexing["indexing_state"] == {"S": "PENDING"}
    assert indexing["pending_indexing"] == {"S": "PENDING"}
    assert all("pending_indexing" not in item for item in uploads)
    assert uploads[0]["sk"] != uploads[1]["sk"] and uploads[0]["token"] == {"S": ""}


class FakeTokens:
    def __init__(self, *tokens):
        self.tokens, self.recorded = list(tokens), []

    def pending(self, limit):
        return list(self.tokens)[:limit]

    def record(self, token, state, *, now, error=None):
        self.recorded.append((token.token, state, error))
        return {"token": token.token, "indexing_state": state,
                "indexing_seconds": (now - token.created_at).total_seconds()}


class FakeAudiences:
    def __init__(self, answers):
        self.answers, self.asked = answers, []

    def indexing_state(self, audience, token):
        self.asked.append((audience, token))
        answer = self.answers[token]
        if isinstance(answer, Exception):
            raise answer
        return answer


def token(name, destination="aud"):
    return PendingToken("TOKEN#" + destination, f"{T0.isoformat()}#{name}", destination, name, "vip", T0)


def run(tokens, destinations):
    follow_up = IndexingFollowUp(lambda: destinations, tokens)
    return follow_up.run(now=lambda: T0 + timedelta(seconds=90))


def test_applied_is_recorded_with_the_time_it_took_in_progress_is_asked_again_next_run():
    tokens = FakeTokens(token("t1"), token("t2"))
    vendor = FakeAudiences({"t1": "APPLIED", "t2": "IN_PROGRESS"})
    report = run(tokens, {"aud": vendor})
    assert vendor.asked == [("vip", "t1"), ("vip", "t2")]
    assert tokens.recorded == [("t1", "APPLIED", None), ("t2", "IN_PROGRESS", None)]
    assert [a["indexing_seconds"] for a in report.applied] == [90.0] and report.in_progress == 1


def test_a_vendor_outage_or_a_key_problem_leaves_the_token_pending():
    tokens = FakeTokens(token("t1"), token("t2"))
    vendor = FakeAudiences({"t1": VendorUnavailable("HTTP 503"), "t2": VendorRejected(401, "AUTHENTICATION_INVALID", "")})
    report = run(tokens, {"aud": vendor})
    assert tokens.recorded == [] and report.deferred == 2


def test_a_token_batch_no_longer_knows_or_whose_destination_is_gone_is_an_error_not_polled_forever():
    tokens = FakeTokens(token("t1"), token("t2", destination="renamed"))
    report = run(tokens, {"aud": FakeAudiences({"t1": VendorRejected(404, "ROUTE_NOT_FOUND", "no such token")})})
    assert [(t, s) for t, s, _ in tokens.recorded] == [("t1", "ERROR"), ("t2", "ERROR")]
    assert "no such token" in tokens.recorded[0][2] and "no longer configured" in tokens.recorded[1][2]
    assert report.errors == 2
