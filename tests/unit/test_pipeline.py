"""Routing, batching and outcomes, with in-memory destinations (the port's fakes)."""

import json
from typing import Any, ClassVar

import pytest

from usersync.delivery.batching import generations
from usersync.delivery.outcomes import Prepared, RecordRejected, SendResult, VendorRejected, VendorUnavailable
from usersync.delivery.pipeline import deliver
from usersync.parsing.messages import records_in_message
from usersync.records import AudienceChange, UserChange


class FakeDestination:
    """Records every call; answers with the outcomes queued in `answers` (default: success)."""
    vendor: ClassVar[str] = "fake"
    record_type: ClassVar[type] = UserChange

    def __init__(self, name, batch_size=3, concurrency=2, reject_names=()):
        self.name, self.batch_size, self.concurrency = name, batch_size, concurrency
        self.calls: list[list[Any]] = []
        self.answers: list[Any] = []
        self.reject_names = reject_names

    def prepare(self, record):
        for name in record.attributes:
            if name in self.reject_names:
                raise RecordRejected("VENDOR_RULE", f"{name} not allowed", f"attributes.{name}")
        return {"id": record.user_id, "n": record.attributes["n"].value}

    def key(self, record):
        return record.user_id

    def send(self, payloads):
        self.calls.append(payloads)
        answer = self.answers.pop(0) if self.answers else SendResult(token=f"t{len(self.calls)}")
        if isinstance(answer, Exception):
            raise answer
        return answer


def items(*records, message_id="m"):
    return list(records_in_message(message_id, json.dumps(list(records))))


def user(uid, n=0, **extra):
    return {"user_id": uid, "attributes": {"n": n}, **extra}


def test_calls_are_the_minimum_the_batch_size_allows():
    dest = FakeDestination("a", batch_size=3)
    report = deliver(items(*(user(f"u{i}") for i in range(10))), {"a": dest})
    assert len(dest.calls) == 4 and [len(c) for c in dest.calls] == [3, 3, 3, 1]
    assert report.delivered == {"a": 10} and not report.failed and not report.retries


def test_a_user_appears_once_per_call_and_its_changes_stay_in_order():
    dest = FakeDestination("a", batch_size=10, concurrency=1)
    deliver(items(user("u1", 1), user("u2", 1), user("u1", 2), user("u1", 3)), {"a": dest})
    assert dest.calls == [[{"id": "u1", "n": 1}, {"id": "u2", "n": 1}], [{"id": "u1", "n": 2}], [{"id": "u1", "n": 3}]]


def test_generations_chunk_each_wave():
    prepared = [Prepared(None, i, key) for i, key in enumerate("aabca")]
    waves = generations(prepared, batch_size=2)
    assert [[[p.payload for p in b] for b in wave] for wave in waves] == [[[0, 2], [3]], [[1]], [[4]]]


def test_records_go_to_every_destination_of_their_kind_unless_they_name_some():
    a, b = FakeDestination("a"), FakeDestination("b")
    report = deliver(items(user("u1"), user("u2", destinations=["b"])), {"a": a, "b": b})
    assert report.delivered == {"a": 1, "b": 2}


def test_unknown_destination_is_rejected_for_that_destination_only():
    a = FakeDestination("a")
    report = deliver(items(user("u1", destinations=["a", "nope"])), {"a": a})
    assert report.delivered == {"a": 1}
    [failure] = report.failed
    assert failure.destination == "nope" and failure.code == "UNKNOWN_DESTINATION" and "configured: a" in failure.message


def test_a_record_one_destination_cannot_take_still_reaches_the_others():
    strict, lenient = FakeDestination("strict", reject_names=("n",)), FakeDestination("lenient")
    report = deliver(items(user("u1")), {"strict": strict, "lenient": lenient})
    assert report.delivered == {"lenient": 1} and not strict.calls
    [failure] = report.failed
    assert (failure.destination, failure.code, failure.field) == ("strict", "VENDOR_RULE", "attributes.n")


def test_audience_changes_without_an_audience_destination_fail_with_a_reason():
    report = deliver(items({"audience": "vip", "install_id": "i1", "action": "add"}), {"a": FakeDestination("a")})
    [failure] = report.failed
    assert failure.code == "NO_DESTINATION" and failure.destination is None


def test_a_4xx_rejects_the_records_of_that_call_with_the_vendor_code():
    dest = FakeDestination("a", batch_size=2)
    dest.answers = [VendorRejected(400, "MALFORMED_PARAMETER", "bad key"), SendResult(token="ok")]
    report = deliver(items(user("u1"), user("u2"), user("u3")), {"a": dest})
    assert report.delivered == {"a": 1}
    assert [(f.code, f.vendor_status, f.vendor_code, f.retryable) for f in report.failed] == \
        [("VENDOR_REJECTED", 400, "MALFORMED_PARAMETER", False)] * 2


def test_a_401_is_a_configuration_problem_and_marked_retryable():
    dest = FakeDestination("a")
    dest.answers = [VendorRejected(401, "AUTHENTICATION_INVALID", "bad key")]
    [failure] = deliver(items(user("u1")), {"a": dest}).failed
    assert failure.retryable and failure.vendor_status == 401


def test_a_5xx_hands_the_records_back_for_retry_and_stops_later_changes_of_that_destination():
    dest = FakeDestination("a", batch_size=10, concurrency=1)
    dest.answers = [VendorUnavailable("HTTP 503")]
    report = deliver(items(user("u1", 1), user("u1", 2)), {"a": dest})
    assert len(dest.calls) == 1  # the second change waits for the first
    assert [r.item.record.attributes["n"].value for r in report.retries] == [1, 2]
    assert not report.deliveries and not report.failed


def test_per_record_rejections_in_a_200_answer_count_the_rest_as_delivered():
    dest = FakeDestination("a")
    dest.answers = [SendResult(token="t", rejected={1: RecordRejected("VENDOR_REJECTED", "bad phone", vendor_code=516)})]
    report = deliver(items(user("u1"), user("u2"), user("u3")), {"a": dest})
    assert report.delivered == {"a": 2}
    [failure] = report.failed
    assert failure.raw["user_id"] == "u2" and failure.vendor_code == 516


def test_an_unexpected_error_is_retried_never_lost():
    dest = FakeDestination("a")
    dest.answers = [KeyError("boom")]
    report = deliver(items(user("u1")), {"a": dest})
    assert len(report.retries) == 1 and not report.failed
