"""The record format (docs/record-format.md) is the public contract: each rule users rely on."""

import json

import pytest

from usersync.parsing.messages import records_in_message
from usersync.records import (
    AudienceChange, EditTags, Increment, InvalidRecord, REMOVE, ReplaceTags, SetDate, SetUrl, SetValue,
    SourcedRecord, Unparsable, UserChange, parse_record,
)

SPEC_EXAMPLE = {
    "user_id": "vincent-42",
    "attributes": {
        "nickname": "Vincent", "age": 55, "level_progress": 45.09, "is_subscribed": True, "referrer": None,
        "last_purchase": {"$date": "2016-01-10T10:00:00"}, "signup": {"$date": 1472656161},
        "avatar": {"$url": "https://cdn.example.com/u/42.png"}, "hobbies": ["cooking", "chess"],
        "locations": {"$add": ["Paris"], "$remove": ["Berlin"]}, "points": {"$incr": 10}, "credits": {"$decr": 3},
    },
    "overwrite": False,
    "destinations": ["batch_ios", "clevertap"],
}


def test_spec_example_parses_into_typed_operations():
    record = parse_record(SPEC_EXAMPLE)
    assert isinstance(record, UserChange)
    ops = record.attributes
    assert ops["nickname"] == SetValue("Vincent")
    assert ops["age"] == SetValue(55) and ops["level_progress"] == SetValue(45.09)
    assert ops["is_subscribed"] == SetValue(True)
    assert ops["referrer"] is REMOVE
    assert ops["last_purchase"] == SetDate(1452420000)  # naive ISO is UTC
    assert ops["signup"] == SetDate(1472656161)
    assert ops["avatar"] == SetUrl("https://cdn.example.com/u/42.png")
    assert ops["hobbies"] == ReplaceTags(("cooking", "chess"))
    assert ops["locations"] == EditTags(("Paris",), ("Berlin",))
    assert ops["points"] == Increment(10) and ops["credits"] == Increment(3, decrement=True)
    assert record.destinations == ("batch_ios", "clevertap")


def test_dates_with_an_offset_are_converted_to_utc():
    record = parse_record({"user_id": "u", "attributes": {"d": {"$date": "2016-01-10T12:00:00+02:00"}}})
    assert record.attributes["d"] == SetDate(1452420000)


def test_audience_change():
    record = parse_record({"audience": "vip_users", "install_id": "8a3c", "action": "add",
                           "attributes": {"tier": "gold"}, "tags": ["beta"]})
    assert isinstance(record, AudienceChange)
    assert record.attributes == {"tier": SetValue("gold")} and record.tags == ("beta",)


@pytest.mark.parametrize("raw, field, words", [
    ({"attributes": {}}, "user_id", "required"),
    ({"user_id": 42}, "user_id", "valid string"),
    ({"user_id": ""}, "user_id", "at least 1"),
    ({"user_id": "u", "overwrite": "yes"}, "overwrite", "boolean"),
    ({"user_id": "u", "destination": ["x"]}, "destination", "unknown field"),
    ({"user_id": "u", "attributes": {"d": {"$date": "yesterday"}}}, "attributes.d", "ISO-8601"),
    ({"user_id": "u", "attributes": {"d": {"$date": True}}}, "attributes.d", "not a boolean"),
    ({"user_id": "u", "attributes": {"t": ["a", 1]}}, "attributes.t", "list of strings"),
    ({"user_id": "u", "attributes": {"p": {"$incr": "10"}}}, "attributes.p", "number"),
    ({"user_id": "u", "attributes": {"x": {"$set": 1}}}, "attributes.x", "unknown object"),
    ({"user_id": "u", "attributes": {"x": {"$url": 5}}}, "attributes.x", "string"),
    ({"audience": "a", "install_id": "i", "action": "delete"}, "action", "'add' or 'remove'"),
])
def test_invalid_records_name_the_field(raw, field, words):
    with pytest.raises(InvalidRecord) as caught:
        parse_record(raw)
    assert caught.value.field == field
    assert words in caught.value.reason


@pytest.mark.parametrize("body, count", [
    (json.dumps(SPEC_EXAMPLE), 1),
    (json.dumps([SPEC_EXAMPLE, SPEC_EXAMPLE]), 2),
    (json.dumps({"records": [SPEC_EXAMPLE, SPEC_EXAMPLE, SPEC_EXAMPLE]}), 3),
])
def test_message_bodies_hold_one_record_an_array_or_records(body, count):
    items = list(records_in_message("m-1", body))
    assert len(items) == count and all(isinstance(i, SourcedRecord) for i in items)
    assert [i.source.index for i in items] == list(range(count))


def test_one_bad_record_does_not_hold_back_the_others_of_its_message():
    body = json.dumps([SPEC_EXAMPLE, {"user_id": 7}, SPEC_EXAMPLE])
    items = list(records_in_message("m-2", body))
    assert [type(i) for i in items] == [SourcedRecord, Unparsable, SourcedRecord]
    assert items[1].source.describe() == "sqs message m-2 record 1" and items[1].field == "user_id"


def test_a_body_that_is_not_json_becomes_one_failure_with_the_raw_body():
    [item] = records_in_message("m-3", "Hello from SQS!")
    assert isinstance(item, Unparsable) and item.code == "INVALID_MESSAGE" and item.raw == "Hello from SQS!"
