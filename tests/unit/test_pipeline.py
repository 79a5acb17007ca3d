"""Routing, batching and outcomes, with in-memory destinations (the port's fakes)."""

from delivery_fakes import FakeClock, FakeDestination, items, user

from usersync.delivery.outcomes import RecordRejected, SendResult, VendorRejected, VendorUnavailable
from usersync.delivery.plan import Part, generations
from usersync.delivery.pipeline import DeliveryOptions, deliver


def test_calls_are_the_minimum_the_batch_size_allows():
    dest = FakeDestination("a", batch_size=3)
    report = deliver(items(*(user(f"u{i}") for i in range(10))), {"a": dest})
    assert sorted(len(c) for c in dest.calls) == [1, 3, 3, 3]  # calls run two at a time: any order
    assert report.delivered == {"a": 10} and not report.failed and not report.retries


def test_a_user_appears_once_per_call_and_its_changes_stay_in_order():
    dest = FakeDestination("a", batch_size=10, concurrency=1)
    deliver(items(user("u1", 1), user("u2", 1), user("u1", 2), user("u1", 3)), {"a": dest},
            DeliveryOptions(coalesce=False))
    assert dest.calls == [[{"id": "u1", "n": 1}, {"id": "u2", "n": 1}], [{"id": "u1", "n": 2}], [{"id": "u1", "n": 3}]]


def test_generations_chunk_each_wave():
    prepared = [Part(i, key, ()) for i, key in enumerate("aabca")]
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
    dest = FakeDestination("a", batch_size=2, concurrency=1)
    dest.answers = [VendorRejected(405, "METHOD_NOT_ALLOWED", "no"), SendResult(token="ok")]
    report = deliver(items(user("u1"), user("u2"), user("u3")), {"a": dest})
    assert report.delivered == {"a": 1} and len(dest.calls) == 2  # never retried
    assert [(f.code, f.vendor_status, f.vendor_code, f.retryable) for f in report.failed] == \
        [("VENDOR_REJECTED", 405, "METHOD_NOT_ALLOWED", False)] * 2


def test_a_401_is_a_configuration_problem_and_marked_retryable():
    dest = FakeDestination("a")
    dest.answers = [VendorRejected(401, "AUTHENTICATION_INVALID", "bad key")]
    [failure] = deliver(items(user("u1")), {"a": dest}).failed
    assert failure.retryable and failure.vendor_status == 401


def test_a_5xx_is_retried_in_the_invocation_then_delivered():
    clock = FakeClock()
    dest = FakeDestination("a", batch_size=10, concurrency=1)
    dest.answers = [VendorUnavailable("HTTP 503", status=503), VendorUnavailable("HTTP 500", status=500)]
    report = deliver(items(user("u1", 1), user("u2", 2)), {"a": dest}, DeliveryOptions(clock=clock))
    assert len(dest.calls) == 3 and report.delivered == {"a": 2}
    assert len(clock.sleeps) == 2 and not report.retries and not report.failed


def test_a_5xx_that_lasts_hands_the_records_back_and_holds_later_changes_of_those_users():
    clock = FakeClock()
    dest = FakeDestination("a", batch_size=1, concurrency=1, max_attempts=3)
    dest.answer = lambda payloads: VendorUnavailable("HTTP 503", status=503) if payloads[0]["id"] == "u1" \
        else SendResult(token="ok")
    report = deliver(items(user("u1", 1), user("u2", 1), user("u1", 2), user("u2", 2)), {"a": dest},
                     DeliveryOptions(clock=clock, coalesce=False))
    # wave 1: u1 three times, u2 once; wave 2: u2 only, u1's second change waits for its first
    assert [c[0]["id"] for c in dest.calls].count("u1") == 3 and dest.calls[-1] == [{"id": "u2", "n": 2}]
    assert sorted((r.item.record.user_id, r.item.record.attributes["n"].value) for r in report.retries) == \
        [("u1", 1), ("u1", 2)]
    assert report.delivered == {"a": 2} and not report.failed


def test_per_record_rejections_in_a_200_answer_count_the_rest_as_delivered():
    dest = FakeDestination("a")
    dest.answers = [SendResult(token="t", rejected={1: RecordRejected("VENDOR_REJECTED", "bad phone", vendor_code=516)})]
    report = deliver(items(user("u1"), user("u2"), user("u3")), {"a": dest})
    assert report.delivered == {"a": 2}
    [failure] = report.failed
    assert failure.raw["user_id"] == "u2" and failure.vendor_code == 516


def test_an_unexpected_error_is_retried_never_lost():
    dest = FakeDestination("a", max_attempts=2)
    dest.answer = lambda payloads: KeyError("boom")
    report = deliver(items(user("u1")), {"a": dest}, DeliveryOptions(clock=FakeClock()))
    assert len(dest.calls) == 2 and len(report.retries) == 1 and not report.failed
