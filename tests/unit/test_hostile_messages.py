"""Hostile SQS message bodies: whatever a body holds, parsing never raises, each record gets exactly
one outcome, a bad record is rejected alone naming its field, and what passes serialises for every
vendor (usersync.parsing.messages, usersync.parsing.strict_json)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, strategies as st

from hostile_input import HOSTILE_VALUES, RAW_TEXT, WHOLE_RECORD_FLAWS, message_of, specimens
from usersync.delivery.outcomes import RecordRejected
from usersync.limits import InputLimits
from usersync.parsing.messages import records_in_message
from usersync.records import SourcedRecord, Unparsable, parse_record
from usersync.vendors.batch.mapping import bulk_element
from usersync.vendors.batch_audience.mapping import patch_element
from usersync.vendors.clevertap.mapping import upload_record
from usersync_dev.simulators.batch import BatchError, attribute_value

GOOD = '{"user_id": "good-1", "attributes": {"n": 1}}'
GOOD_2 = '{"user_id": "good-2", "attributes": {"n": 2}}'


def between_good_ones(record: str) -> list:
    """The hostile record between two good ones in one message: the good ones must not suffer."""
    items = records_in_message("m-1", f"[{GOOD}, {record}, {GOOD_2}]")
    assert [type(i) for i in items] == [SourcedRecord, Unparsable, SourcedRecord], items
    assert [i.source.index for i in items] == [0, 1, 2]
    return items[1]


@pytest.mark.parametrize("body", [
    '{"user_id": "u", "attributes": {"n": ' + "9" * 5000 + "}}",
    '[{"user_id": "u", "attributes": {"n": ' + "9" * 5000 + "}}]",
    '{"records": [{"user_id": "u", "attributes": {"n": -' + "9" * 5000 + "}}]}",
])
def test_an_integer_of_5000_digits_in_a_message_rejects_its_record_naming_the_field(body):
    [item] = records_in_message("m-1", body)  # the interpreter refuses int() past 4,300 digits: no crash
    assert isinstance(item, Unparsable) and item.code == "INVALID_RECORD" and item.field == "attributes.n"
    assert "5,000 digits" in item.reason and "64-bit" in item.reason


def test_an_integer_of_5000_digits_rejects_only_its_record_among_others():
    bad = between_good_ones('{"user_id": "u", "attributes": {"n": ' + "1" * 5000 + "}}")
    assert bad.field == "attributes.n"


@pytest.mark.parametrize("record, field", [
    ('{"user_id": "u\\ud800"}', "user_id"),
    ('{"user_id": "u", "attributes": {"nickname": "a\\udfffb"}}', "attributes.nickname"),
    ('{"user_id": "u", "attributes": {"hobbies": ["ok", "\\ud83d"]}}', "attributes.hobbies"),
])
def test_a_lone_surrogate_in_a_user_id_or_a_value_is_rejected_naming_the_field(record, field):
    bad = between_good_ones(record)
    assert bad.field == field and "lone surrogate" in bad.reason


def test_a_key_written_twice_rejects_the_record_naming_the_key():
    bad = between_good_ones('{"user_id": "u", "attributes": {"age": 30, "age": 31}}')
    assert bad.field == "attributes.age" and "more than once" in bad.reason
    bad = between_good_ones('{"user_id": "u", "user_id": "v"}')
    assert bad.field == "user_id" and "more than once" in bad.reason


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_and_reject_the_record_naming_the_field(token):
    bad = between_good_ones('{"user_id": "u", "attributes": {"level": ' + token + "}}")
    assert bad.field == "attributes.level" and f"{token} is not a JSON number" in bad.reason


def test_2_to_the_70_is_rejected_not_sent_as_is():
    bad = between_good_ones('{"user_id": "u", "attributes": {"points": {"$incr": ' + str(2 ** 70) + "}}}")
    assert bad.field == "attributes.points" and "64-bit" in bad.reason


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_record_nested_too_deep_is_rejected_alone_and_its_neighbours_go_on(depth):
    bad = between_good_ones('{"user_id": "u", "attributes": {"x": ' + "[" * depth + "]" * depth + "}}")
    assert "nests deeper than 16 levels" in bad.reason
    assert bad.field == ("attributes.x" if depth < 1000 else None)  # past ~1,000 levels: the record as a whole


def test_a_record_with_a_flaw_is_kept_in_its_envelope_as_it_was_written():
    text = '{"user_id": "u", "attributes": {"age": 30, "age": NaN}}'
    bad = between_good_ones(text)
    assert bad.raw == text  # no Python value holds a key twice: the text does


def test_more_records_than_the_limit_fail_the_message_as_one_invalid_message():
    body = json.dumps([{"user_id": f"u{i}"} for i in range(11)])
    [item] = records_in_message("m-1", body, InputLimits(max_records_per_message=10))
    assert item.code == "INVALID_MESSAGE" and "11 records" in item.reason and "MAX_RECORDS_PER_MESSAGE" in item.reason
    assert item.raw == body
    assert len(records_in_message("m-1", body, InputLimits(max_records_per_message=11))) == 11


def test_more_attributes_than_the_limit_reject_the_record_naming_attributes():
    record = json.dumps({"user_id": "u", "attributes": {f"a{i}": i for i in range(6)}})
    [item] = records_in_message("m-1", record, InputLimits(max_attributes_per_record=5))
    assert item.field == "attributes" and "MAX_ATTRIBUTES_PER_RECORD" in item.reason


@pytest.mark.parametrize("body, words", [
    ("[{\"user_id\": \"a\"}", "not closed"),
    ("[{\"user_id\": \"a\"}, ", "trailing comma"),
    ('[{"user_id": "a"}] x', "Extra data"),
    ("{", "not JSON"),
    ('{"records": 5}', "records must be a JSON array"),
])
def test_a_body_that_is_not_json_fails_as_one_invalid_message(body, words):
    [item] = records_in_message("m-1", body)
    assert item.code == "INVALID_MESSAGE" and words in item.reason and item.raw == body


# --- properties -----------------------------------------------------------------------------

@given(RAW_TEXT)
def test_whatever_a_body_holds_parsing_never_raises_and_gives_each_record_one_outcome(body):
    items = records_in_message("m-1", body)  # [] only for an empty array: no record, nothing to report
    assert all(isinstance(i, (SourcedRecord, Unparsable)) for i in items)
    indexes = [i.source.index for i in items]
    assert indexes == [None] or indexes == list(range(len(items)))
    assert items or json.loads(body) in ([], {"records": []})


@given(st.lists(st.integers(min_value=0, max_value=10 ** 6), min_size=1, max_size=8, unique=True)
       .flatmap(lambda ids: st.tuples(*(specimens(f"user-{i}") for i in ids))))
def test_hostile_records_are_rejected_alone_naming_their_field_and_good_ones_pass(records):
    items = records_in_message("m-1", message_of(list(records)))
    assert len(items) == len(records)
    for record, item in zip(records, items):
        if record.good:
            assert isinstance(item, SourcedRecord), (record.text[:200], getattr(item, "reason", None))
        else:
            assert isinstance(item, Unparsable) and item.code == "INVALID_RECORD", record.text[:200]
            assert item.field == record.field, (record.text[:200], item.reason)


def _serialises(payload) -> None:
    """What the clients do with a payload: strict JSON (no NaN), UTF-8."""
    json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")


@given(st.lists(st.integers(min_value=0, max_value=10 ** 6), min_size=1, max_size=6, unique=True)
       .flatmap(lambda ids: st.tuples(*(specimens(f"user-{i}") for i in ids))))
def test_what_passes_validation_serialises_for_every_vendor_or_is_rejected_by_its_rules(records):
    for item in records_in_message("m-1", message_of(list(records))):
        if not isinstance(item, SourcedRecord):
            continue
        member = parse_record({"audience": "vip", "install_id": "i", "action": "add",
                               "attributes": item.raw["attributes"]})
        for prepare, record in ((bulk_element, item.record), (upload_record, item.record),
                                (lambda r: patch_element(r).element, member)):
            try:
                _serialises(prepare(record))
            except RecordRejected:
                pass  # a vendor rule (names, sizes, operations): rejected for that vendor, with a reason


# --- the record format and the strict Batch simulator agree ---------------------------------

URL_CANDIDATES = st.one_of(
    st.text(max_size=40),
    st.builds(lambda scheme, rest: f"{scheme}://{rest}", st.text(max_size=8), st.text(max_size=30)),
    st.builds(lambda n: "https://x.io/" + "p" * n, st.integers(min_value=2020, max_value=2040)),
)


def _simulator_accepts(wrapper: str, value) -> bool:
    try:
        attribute_value(wrapper, value, "u.x")
        return True
    except BatchError:
        return False


@given(URL_CANDIDATES)
def test_a_url_the_record_format_accepts_is_one_batch_accepts_and_the_reverse(url):
    items = records_in_message("m", json.dumps({"user_id": "u", "attributes": {"x": {"$url": url}}}))
    accepted = isinstance(items[0], SourcedRecord)
    # Control characters are refused in every value, before any vendor rule: compare the rest.
    if all(c >= " " and c != "\x7f" and not 0xd800 <= ord(c) <= 0xdfff and c not in "\ufffe\uffff" for c in url):
        assert accepted == _simulator_accepts("url", url)


@given(st.one_of(st.integers(min_value=-(10 ** 14), max_value=10 ** 14),
                 st.integers(min_value=-62135596800 - 5, max_value=-62135596800 + 5),
                 st.integers(min_value=253402300799 - 5, max_value=253402300799 + 5)))
def test_an_epoch_date_the_record_format_accepts_is_one_batch_accepts_and_the_reverse(epoch):
    items = records_in_message("m", json.dumps({"user_id": "u", "attributes": {"d": {"$date": epoch}}}))
    assert isinstance(items[0], SourcedRecord) == _simulator_accepts("date", epoch)


@given(st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))
def test_an_iso_date_the_record_format_accepts_reaches_batch_as_epoch_seconds_it_accepts(iso):
    items = records_in_message("m", json.dumps({"user_id": "u", "attributes": {"d": {"$date": iso}}}))
    if isinstance(items[0], SourcedRecord):
        epoch = bulk_element(items[0].record)["update"]["values"]["date(u.d)"]
        assert _simulator_accepts("date", epoch) and not math.isnan(epoch)


@pytest.mark.parametrize("name", sorted(HOSTILE_VALUES))
def test_each_hostile_value_rejects_its_record_alone(name):
    bad = between_good_ones('{"user_id": "u", "attributes": {"ok": 1, "x": ' + HOSTILE_VALUES[name] + "}}")
    assert bad.code == "INVALID_RECORD" and bad.field == (None if name in WHOLE_RECORD_FLAWS else "attributes.x")
    assert len(bad.reason) < 400
