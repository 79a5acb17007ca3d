"""usersync_dev.validation: the pipeline's own routing and vendor rules, applied without sending."""

import pytest

from usersync_dev import validation
from usersync.config import DestinationsConfig
from usersync.records import Source, SourcedRecord, Unparsable, parse_record


def destinations():
    return DestinationsConfig.model_validate({"destinations": {
        "batch_ios": {"type": "batch", "api_key": "env:NEVER_READ", "rest_key": "env:NEVER_READ"},
    }}).build()


def items(records):
    for line, raw in enumerate(records, start=2):
        source = Source("s3", key="users.csv", line=line)
        if isinstance(raw, str):
            yield Unparsable(raw, source, raw)
        else:
            yield SourcedRecord(parse_record(raw), raw, source)


RECORDS = [
    {"user_id": "a"},
    {"user_id": "b", "attributes": {"Bad": 1}},
    "not a record",
    {"user_id": "c", "attributes": {"points": {"$incr": 1}}},
    {"user_id": "d", "destinations": ["batch_web"]},
    {"user_id": "e"},
]


@pytest.mark.parametrize("slice_size", [1, 2, 10_000])
def test_every_problem_in_file_order_whatever_the_slice(monkeypatch, slice_size):
    monkeypatch.setattr(validation, "SLICE", slice_size)
    report = validation.validate(items(RECORDS), destinations())
    assert report.records == 6
    assert report.accepted == {"batch_ios": 2}
    assert [(f.source.line, f.destination, f.code) for f in report.failed] == [
        (3, "batch_ios", "VENDOR_RULE"), (4, None, "INVALID_RECORD"),
        (5, "batch_ios", "UNSUPPORTED_OPERATION"), (6, "batch_web", "UNKNOWN_DESTINATION")]


def test_without_the_users_config_named_destinations_are_ignored():
    report = validation.validate(items(RECORDS[4:]), destinations(), ignore_named_destinations=True)
    assert report.ok and report.accepted == {"batch_ios": 2}


def test_accepted_records_are_kept_only_for_the_destinations_asked():
    report = validation.validate(items(RECORDS), destinations(), keep_for=frozenset({"batch_ios"}))
    assert [item.record.user_id for item in report.accepted_items["batch_ios"]] == ["a", "e"]
    assert validation.validate(items(RECORDS), destinations()).accepted_items == {}
