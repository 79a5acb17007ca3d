"""Record-scope rules every destination relies on (docs/record-format.md#values): dates, URLs,
numbers and text are checked before anything else, and a breach is INVALID_RECORD naming the field."""

from __future__ import annotations

import pytest

from usersync.parsing.messages import records_in_message
from usersync.records import InvalidRecord, SetDate, SetUrl, SetValue, parse_record


def rejected(attributes=None, **fields) -> InvalidRecord:
    record = {"user_id": "u", **fields}
    if attributes is not None:
        record["attributes"] = attributes
    with pytest.raises(InvalidRecord) as caught:
        parse_record(record)
    return caught.value


# --- dates -------------------------------------------------------------------------------------

def test_an_epoch_in_milliseconds_is_rejected_saying_it_looks_like_milliseconds():
    why = rejected({"signup": {"$date": 1472656161000}})  # year 48600 if read as seconds
    assert why.field == "attributes.signup" and "milliseconds" in why.reason and "divide by 1000" in why.reason


@pytest.mark.parametrize("date", [253402300800, -62135596801, 10 ** 30, "9999-12-31T23:59:59-01:00",
                                  "0001-01-01T00:00:00+01:00"])
def test_dates_outside_years_1_to_9999_are_rejected(date):
    why = rejected({"d": {"$date": date}})
    assert why.field == "attributes.d" and "years 1 to 9999" in why.reason


@pytest.mark.parametrize("date, epoch", [(253402300799, 253402300799), (-62135596800, -62135596800),
                                         ("9999-12-31T23:59:59", 253402300799), ("0001-01-01", -62135596800),
                                         (1472656161.9, 1472656161)])
def test_dates_within_years_1_to_9999_are_kept_as_epoch_seconds(date, epoch):
    assert parse_record({"user_id": "u", "attributes": {"d": {"$date": date}}}).attributes["d"] == SetDate(epoch)


# --- URLs --------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://exa mple.com/x",    # a space in the host (Batch's old check looked at its first character only)
    "https:/example.com",        # one slash
    "www.example.com/x.png",     # no scheme (CleverTap used to take it as is)
    "https://",                  # nothing after ://
    "https:// example.com",
    "https://example.com/a b",
    "https://example.com/\tx",
    "1http://example.com",       # a scheme starts with a letter
    "https://example.com/" + "a" * 2029,  # 2,049 characters
])
def test_a_url_is_a_scheme_then_colon_slash_slash_then_no_whitespace_at_most_2048_characters(url):
    why = rejected({"avatar": {"$url": url}})
    assert why.field == "attributes.avatar"
    assert "$url" in why.reason


@pytest.mark.parametrize("url", ["https://cdn.example.com/u/42.png", "myapp://path/to/content", "a+b-c.d://x",
                                 "https://example.com/" + "a" * 2028])
def test_urls_that_follow_the_rule_pass(url):
    assert parse_record({"user_id": "u", "attributes": {"a": {"$url": url}}}).attributes["a"] == SetUrl(url)


def test_a_bad_url_is_rejected_for_every_destination_before_any_mapping():
    [item] = records_in_message("m", '{"user_id": "u", "attributes": {"a": {"$url": "www.example.com/x.png"}}}')
    assert (item.code, item.field, item.source.index) == ("INVALID_RECORD", "attributes.a", 0)


# --- numbers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [2 ** 63, -(2 ** 63) - 1, 2 ** 70, {"$incr": 2 ** 70}, {"$decr": 2 ** 64}])
def test_integers_outside_64_bits_are_rejected(value):
    why = rejected({"n": value})
    assert why.field == "attributes.n" and "64-bit" in why.reason


@pytest.mark.parametrize("value", [2 ** 63 - 1, -(2 ** 63), 1.5e308, -0.0])
def test_64_bit_integers_and_finite_floats_pass(value):
    assert parse_record({"user_id": "u", "attributes": {"n": value}}).attributes["n"] == SetValue(value)


def test_an_integer_of_ten_thousand_digits_is_refused_without_printing_it():
    why = rejected({"n": 10 ** 10_000})  # str() of it raises past 4,300 digits
    assert "digits" in why.reason and len(why.reason) < 300


# --- text --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, named", [("a\x00b", "U+0000"), ("\x1b[31m", "U+001B"), ("x\x7f", "U+007F"),
                                          ("\ud800", "U+D800"), ("a\udfffb", "U+DFFF"), ("\uffff", "U+FFFF")])
def test_control_characters_lone_surrogates_and_non_characters_in_a_value_are_rejected(value, named):
    why = rejected({"nickname": value})
    assert why.field == "attributes.nickname" and named in why.reason


@pytest.mark.parametrize("value", ["two\nlines", "tab\there", "crlf\r\n", "é€😀"])
def test_tab_line_feed_and_carriage_return_stay_allowed_in_values(value):
    assert parse_record({"user_id": "u", "attributes": {"note": value}}).attributes["note"] == SetValue(value)


@pytest.mark.parametrize("fields, field", [
    ({"user_id": "u\ud800"}, "user_id"),
    ({"user_id": "u\nv"}, "user_id"),
    ({"user_id": "u", "attributes": {"na\x00me": 1}}, "attributes.na\x00me"),
    ({"user_id": "u", "attributes": {"tags": ["ok", "b\x00d"]}}, "attributes.tags"),
    ({"user_id": "u", "attributes": {"t": {"$add": ["\ud83d"]}}}, "attributes.t"),
    ({"user_id": "u", "destinations": ["batch_ios", "x\x01"]}, "destinations.1"),
    ({"audience": "vip\x00", "install_id": "i", "action": "add"}, "audience"),
])
def test_ids_names_and_tags_with_control_characters_or_surrogates_are_rejected_naming_the_field(fields, field):
    with pytest.raises(InvalidRecord) as caught:
        parse_record(fields)
    assert caught.value.field == field


# --- shape -------------------------------------------------------------------------------------

def test_an_object_that_is_not_a_record_says_what_a_record_needs():
    with pytest.raises(InvalidRecord) as caught:
        parse_record({"records": [{"user_id": "u"}]})
    assert caught.value.field == "user_id"
    assert "user_id" in caught.value.reason and "audience" in caught.value.reason and "'records'" in caught.value.reason
