"""Coalescing a user's changes, and bisecting a bulk rejected as a whole, with in-memory destinations."""

import math

import pytest
from delivery_fakes import FakeClock, FakeDestination, items, user

from usersync.delivery.bisecting import BisectBudget
from usersync.delivery.coalescing import coalesce, compose
from usersync.delivery.outcomes import RecordRejected, SendResult, VendorRejected
from usersync.delivery.pipeline import DeliveryOptions, deliver
from usersync.records import EditTags, Increment, Remove, ReplaceTags, SetDate, SetValue, parse_record

# --- composing operations ---------------------------------------------------------------------


def tags_after(ops, start=()):
    """What Batch's rules make of a tag collection after `ops` in order."""
    tags = set(start)
    for op in ops:
        tags = set(op.values) if isinstance(op, ReplaceTags) else (tags | set(op.add)) - set(op.remove)
    return tags


@pytest.mark.parametrize("a, b, expected", [
    (SetValue(1), SetValue(2), SetValue(2)),
    (SetValue(1), Remove(), Remove()),
    (Remove(), SetValue("x"), SetValue("x")),
    (SetValue(1), SetDate(5), SetDate(5)),
    (SetValue(10), Increment(5), SetValue(15)),
    (SetValue(10), Increment(15, decrement=True), SetValue(-5)),
    (Increment(2), Increment(3), Increment(5)),
    (Increment(2), Increment(3, decrement=True), Increment(1, decrement=True)),
    (Increment(2), SetValue(0), SetValue(0)),
    (ReplaceTags(("a", "b")), EditTags(("c",), ("a",)), ReplaceTags(("b", "c"))),
    (EditTags(("a",)), ReplaceTags(("z",)), ReplaceTags(("z",))),
])
def test_composition_has_the_effect_of_both_in_order(a, b, expected):
    assert compose(a, b) == expected


@pytest.mark.parametrize("a, b", [
    (ReplaceTags(("a",)), SetValue(1)),      # u.x and ut.x are two things at Batch
    (SetValue(1), ReplaceTags(("a",))),
    (ReplaceTags(("a",)), Remove()),
    (Remove(), EditTags(("a",))),
    (Remove(), Increment(1)),                # an increment needs a value
    (SetValue(True), Increment(1)),
    (SetValue("x"), Increment(1)),
    (SetDate(1), Increment(1)),
    (EditTags(("a",), ("a",)), EditTags(("b",))),  # add and remove the same tag: vendor-defined
])
def test_what_does_not_compose_is_left_apart(a, b):
    assert compose(a, b) is None


@pytest.mark.parametrize("first, second", [
    (EditTags(("a", "b"), ("c",)), EditTags(("c", "d"), ("a",))),
    (EditTags(("a",), ("b",)), EditTags(("b",), ("a",))),
    (EditTags((), ("x",)), EditTags(("x",), ())),
    (EditTags(("x",), ()), EditTags((), ("x",))),
])
@pytest.mark.parametrize("start", [(), ("a", "b", "c", "x"), ("d",)])
def test_two_tag_edits_make_one_with_the_same_result_on_any_collection(first, second, start):
    merged = compose(first, second)
    assert tags_after([merged], start) == tags_after([first, second], start)
    assert not set(merged.add) & set(merged.remove)


def change(**attributes):
    return parse_record({"user_id": "u", "attributes": attributes})


def test_a_users_changes_fold_into_the_fewest_with_the_same_effect():
    changes = [change(a=1, tags=["x"]), change(a=2, points=3), change(tags={"$add": ["y"]}),
               change(tags=None), change(b=1)]
    groups = coalesce(changes)
    assert [indexes for _, indexes in groups] == [[0, 1, 2], [3, 4]]  # null on a tag list starts anew
    assert groups[0][0].attributes == {"a": SetValue(2), "tags": ReplaceTags(("x", "y")), "points": SetValue(3)}


def test_a_later_overwrite_is_never_folded_into_earlier_changes():
    overwrite = parse_record({"user_id": "u", "attributes": {"a": 1}, "overwrite": True})
    assert [i for _, i in coalesce([change(b=1), overwrite])] == [[0], [1]]
    assert [i for _, i in coalesce([overwrite, change(b=1)])] == [[0, 1]]


# --- coalescing in the pipeline ---------------------------------------------------------------


def test_several_changes_to_one_user_go_as_one_update_in_one_call():
    dest = FakeDestination("a", batch_size=10)
    report = deliver(items(user("u1", 1), user("u2", 1), {"user_id": "u1", "attributes": {"n": {"$incr": 4}}},
                           {"user_id": "u1", "attributes": {"tags": ["a"]}}), {"a": dest})
    assert dest.calls == [[{"id": "u1", "n": 5, "tags": ["a"]}, {"id": "u2", "n": 1}]]
    assert report.delivered == {"a": 4}  # every change counts as delivered
    [delivery] = report.deliveries
    assert [i.source.index for i in delivery.items] == [0, 2, 3, 1]


def test_changes_that_do_not_compose_go_in_successive_calls_in_order():
    dest = FakeDestination("a", batch_size=10)
    deliver(items({"user_id": "u1", "attributes": {"x": 1}}, {"user_id": "u1", "attributes": {"x": ["t"]}}),
            {"a": dest})
    assert dest.calls == [[{"id": "u1", "x": 1}], [{"id": "u1", "x": ["t"]}]]


def test_a_coalesced_update_the_vendor_refuses_is_split_back_so_only_the_bad_change_fails():
    dest = FakeDestination("a", batch_size=10)
    dest.answer = lambda payloads: SendResult(token="t", rejected={
        i: RecordRejected("VENDOR_REJECTED", "bad phone", vendor_code=516)
        for i, p in enumerate(payloads) if p.get("phone") == "bad"})
    report = deliver(items({"user_id": "u1", "attributes": {"name": "A"}},
                           {"user_id": "u1", "attributes": {"phone": "bad"}}), {"a": dest})
    assert dest.calls[0] == [{"id": "u1", "name": "A", "phone": "bad"}]
    assert dest.calls[1:] == [[{"id": "u1", "name": "A"}], [{"id": "u1", "phone": "bad"}]]
    assert report.delivered == {"a": 1}
    [failure] = report.failed
    assert failure.raw == {"user_id": "u1", "attributes": {"phone": "bad"}} and failure.vendor_code == 516


# --- bisecting --------------------------------------------------------------------------------


class AllOrNothingBulk(FakeDestination):
    """Like Batch: a bulk holding a bad record is rejected as a whole, with a 400 naming it."""

    def __init__(self, bad_ids, **kwargs):
        super().__init__("bulk", **kwargs)
        self.answer = self._answer
        self.bad_ids = set(bad_ids)
        self.applied: list[str] = []  # ids of accepted calls, as the vendor applied them

    def _answer(self, payloads):
        for index, payload in enumerate(payloads):
            if payload["id"] in self.bad_ids:
                return VendorRejected(400, "MALFORMED_PARAMETER", f"users[{index}] (id {payload['id']!r}): bad value")
        self.applied.extend(p["id"] for p in payloads)
        return SendResult(token=f"t{len(self.calls)}")


def test_three_bad_records_among_10000_are_isolated_and_every_good_one_delivered():
    dest = AllOrNothingBulk({"u17", "u5000", "u9998"}, batch_size=10_000)
    report = deliver(items(*(user(f"u{i}") for i in range(10_000))), {"bulk": dest},
                     DeliveryOptions(clock=FakeClock()))
    assert report.delivered == {"bulk": 9_997}
    assert sorted(f.raw["user_id"] for f in report.failed) == ["u17", "u5000", "u9998"]
    for failure in report.failed:
        assert (failure.code, failure.vendor_status, failure.vendor_code) == ("VENDOR_REJECTED", 400, "MALFORMED_PARAMETER")
        assert failure.raw["user_id"] in failure.message and not failure.retryable
    extra_calls = len(dest.calls) - 1
    assert extra_calls == report.bisect_calls <= 2 * 3 * math.log2(10_000)
    assert len(dest.applied) == len(set(dest.applied)) == 9_997  # each good record applied once


def test_a_single_bad_record_costs_about_one_call_per_halving():
    dest = AllOrNothingBulk({"u0"}, batch_size=1024)
    report = deliver(items(*(user(f"u{i}") for i in range(1024))), {"bulk": dest}, DeliveryOptions(clock=FakeClock()))
    assert report.delivered == {"bulk": 1023} and len(report.failed) == 1
    assert report.bisect_calls <= 2 * math.log2(1024)


def test_the_search_stops_at_its_budget_and_fails_the_rest_as_retryable():
    dest = AllOrNothingBulk({f"u{i}" for i in range(0, 64, 2)}, batch_size=64)  # every other record is bad
    report = deliver(items(*(user(f"u{i}") for i in range(64))), {"bulk": dest}, DeliveryOptions(clock=FakeClock()))
    budget = BisectBudget(64).max_extra_calls
    assert report.bisect_calls <= budget
    assert sum(report.delivered.values()) + len(report.failed) == 64
    assert any(f.retryable and "stopped" in f.message for f in report.failed)
    assert all(f.raw["user_id"] in dest.bad_ids for f in report.failed if not f.retryable)


def test_a_configuration_rejection_is_not_bisected():
    dest = FakeDestination("a", batch_size=10)
    dest.answers = [VendorRejected(401, "AUTHENTICATION_INVALID", "bad key")]
    report = deliver(items(user("u1"), user("u2")), {"a": dest})
    assert len(dest.calls) == 1 and all(f.retryable and f.vendor_status == 401 for f in report.failed)
