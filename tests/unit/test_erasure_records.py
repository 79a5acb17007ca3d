"""Deletion records: how they are written (JSON and CSV), refused, planned and sent — without AWS.
The end-to-end erasure (simulators, receipts, both paths) is in tests/integration/test_erasure.py."""

from __future__ import annotations

import json

import pytest
from delivery_fakes import FakeDestination, items, user

from usersync.delivery.pipeline import DeliveryOptions, deliver
from usersync.delivery.plan import plan
from usersync.parsing.files import FileRejected, chunk_records
from usersync.records import (
    InvalidRecord, Source, SourcedRecord, UserChange, UserDeletion, parse_record,
)
from usersync.vendors.base import DELETE, Erase, VendorDestination

# --- the record ---------------------------------------------------------------------------------


def test_a_deletion_names_the_person_and_optionally_its_install_ids_and_destinations():
    record = parse_record({"user_id": "ada", "delete": True, "install_ids": ["i1", "i2"], "destinations": ["ct"]})
    assert isinstance(record, UserDeletion)
    assert (record.user_id, record.install_ids, record.destinations) == ("ada", ("i1", "i2"), ("ct",))


@pytest.mark.parametrize("raw, field, words", [
    ({"user_id": "u", "delete": False}, "delete", "must be true"),
    ({"user_id": "u", "delete": "true"}, "delete", "must be true"),
    ({"user_id": "u", "delete": True, "attributes": {"a": 1}}, "attributes", "two records"),
    ({"user_id": "u", "delete": True, "overwrite": True}, "overwrite", "two records"),
    ({"user_id": "u", "install_ids": ["i"]}, "install_ids", "belong to a deletion"),
    ({"user_id": "u", "delete": True, "install_ids": [""]}, "install_ids.0", "at least 1"),
    ({"user_id": "u", "delete": True, "install_ids": "i1"}, "install_ids", "tuple"),
    ({"user_id": "u", "delete": True, "install_ids": ["i"] * 101}, "install_ids", "at most 100"),
    ({"user_id": "u", "delete": True, "install_ids": ["a\u0000b"]}, "install_ids.0", "control"),
    ({"user_id": "", "delete": True}, "user_id", "at least 1"),
])
def test_a_malformed_deletion_is_refused_naming_the_field(raw, field, words):
    with pytest.raises(InvalidRecord) as refused:
        parse_record(raw)
    assert refused.value.field == field and words in str(refused.value)


def test_a_csv_profile_file_marks_deletions_in_a_delete_column_with_install_ids_as_a_list():
    source = lambda line, ordinal: Source("s3", bucket="b", key="k.csv", line=line, chunk="c", ordinal=ordinal)  # noqa: E731
    rows = list(chunk_records("ada,true,i1|i2,\nbob,,,pro\ncy,false,,free\n", "csv", first_line=2,
                              source_at=source, header=["user_id", "delete", "install_ids", "plan"]))
    assert [r.raw for r in rows] == [
        {"user_id": "ada", "delete": True, "install_ids": ["i1", "i2"]},
        {"user_id": "bob", "attributes": {"plan": "pro"}},
        {"user_id": "cy", "attributes": {"plan": "free"}},
    ]
    assert isinstance(rows[0].record, UserDeletion) and isinstance(rows[1].record, UserChange)


def test_delete_and_install_ids_columns_are_refused_in_an_audience_file():
    with pytest.raises(FileRejected, match="belong to profile files"):
        list(chunk_records("vip,i1,add,true\n", "csv", first_line=2, source_at=None,
                           header=["audience", "install_id", "action", "delete"]))


# --- planning and sending -------------------------------------------------------------------------


class ErasingDestination(FakeDestination):
    """A fake vendor that updates in bulks of `batch_size` and deletes in calls of `delete_limit`."""
    record_type = (UserChange, UserDeletion)
    call_kind = VendorDestination.call_kind

    def __init__(self, name, delete_limit=2, **kwargs):
        super().__init__(name, **kwargs)
        self.call_limits = {DELETE: delete_limit}

    def prepare_steps(self, record):
        return [Erase(record.user_id)] if isinstance(record, UserDeletion) else [self.prepare(record)]


def deletion(uid, **extra):
    return {"user_id": uid, "delete": True, **extra}


def shown(call):
    return [f"-{p.key}" if isinstance(p, Erase) else f"{p['id']}={p.get('n')}" for p in call]


def test_deletions_go_in_calls_of_their_own_up_to_the_delete_limit():
    dest = ErasingDestination("a", batch_size=10, delete_limit=2, concurrency=1)
    report = deliver(items(user("u1"), deletion("d1"), deletion("d2"), user("u2"), deletion("d3")), {"a": dest})
    assert report.delivered == {"a": 5} and not report.failed
    assert sorted(map(shown, dest.calls)) == [["-d1", "-d2"], ["-d3"], ["u1=0", "u2=0"]]


def test_a_users_changes_around_a_deletion_keep_their_order_and_only_the_changes_on_one_side_merge():
    dest = ErasingDestination("a", batch_size=10, concurrency=1)
    deliver(items(user("u", 1), user("u", 2), deletion("u"), user("u", 3), user("u", 4)), {"a": dest},
            DeliveryOptions(coalesce=True))
    assert list(map(shown, dest.calls)) == [["u=2"], ["-u"], ["u=4"]]  # the last action wins, as at the vendor


def test_planning_counts_a_deletion_delivered_once_its_call_is_accepted():
    dest = ErasingDestination("a", batch_size=10)
    planned = plan(dest, [i for i in items(deletion("x"), deletion("y")) if isinstance(i, SourcedRecord)], {})
    [[call]] = planned.waves
    assert [p.kind for p in call] == [DELETE, DELETE] and [p.group.size for p in call] == [1, 1]


def test_a_destination_that_takes_no_deletions_refuses_one_sent_to_it_by_name():
    dest = FakeDestination("a")
    report = deliver(items(deletion("x", destinations=["a"])), {"a": dest})
    [failure] = report.failed
    assert failure.code == "WRONG_DESTINATION_TYPE" and "does not take this deletion" in failure.message
    assert dest.calls == []


def test_by_default_a_deletion_goes_only_to_the_destinations_that_take_deletions():
    plain, erasing = FakeDestination("plain"), ErasingDestination("erasing")
    report = deliver(items(deletion("x")), {"plain": plain, "erasing": erasing})
    assert report.delivered == {"erasing": 1} and not report.failed and plain.calls == []


def test_a_message_of_deletions_is_read_like_any_other():
    [item] = items(deletion("ada", install_ids=["i1"]))
    assert isinstance(item.record, UserDeletion) and json.loads(json.dumps(item.raw))["install_ids"] == ["i1"]
