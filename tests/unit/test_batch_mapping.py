"""Record -> Batch Custom Data payload, rule by rule from batch-custom-data-api.txt."""

import pytest

from usersync.vendors.batch.mapping import bulk_element
from usersync.delivery.outcomes import RecordRejected
from usersync.records import parse_record


def element(attributes, **extra):
    return bulk_element(parse_record({"user_id": "vincent", "attributes": attributes, **extra}))


def test_scalars_go_to_the_attribute_scope():
    values = element({"nickname": "Vincent", "age": 55, "level_progress": 45.09, "is_subscribed": True})["update"]["values"]
    assert values == {"u.nickname": "Vincent", "u.age": 55, "u.level_progress": 45.09, "u.is_subscribed": True}


def test_null_removes_an_attribute():
    assert element({"referrer": None})["update"]["values"] == {"u.referrer": None}


def test_dates_are_wrapped_in_date_and_sent_as_utc_epoch_seconds():
    values = element({"last_purchase": {"$date": "2016-01-10T10:00:00"}, "signup": {"$date": 1472656161}})["update"]["values"]
    assert values == {"date(u.last_purchase)": 1452420000, "date(u.signup)": 1472656161}


def test_urls_are_wrapped_in_url():
    values = element({"avatar": {"$url": "myapp://path/to/content"}})["update"]["values"]
    assert values == {"url(u.avatar)": "myapp://path/to/content"}


def test_tag_lists_replace_and_tag_edits_add_or_remove():
    values = element({"hobbies": ["Cooking", "Chess"], "locations": {"$add": ["Paris"], "$remove": ["Berlin"]},
                      "visited": {"$add": ["Rome"]}})["update"]["values"]
    assert values == {"ut.hobbies": ["Cooking", "Chess"],
                      "ut.locations": {"$add": ["Paris"], "$remove": ["Berlin"]},
                      "ut.visited": {"$add": ["Rome"]}}


def test_overwrite_is_sent_only_when_asked():
    assert "overwrite" not in element({"a": 1})["update"]
    assert element({"a": 1}, overwrite=True)["update"]["overwrite"] is True


def test_bulk_element_shape():
    assert element({"a": 1}) == {"id": "vincent", "update": {"values": {"u.a": 1}}}


@pytest.mark.parametrize("name", ["Nickname", "nick-name", "nick name", "a" * 31, "été"])
def test_names_outside_batch_rules_are_rejected_not_renamed(name):
    with pytest.raises(RecordRejected) as caught:
        element({name: "x"})
    assert caught.value.code == "VENDOR_RULE" and caught.value.field == f"attributes.{name}"
    assert "never renames" in caught.value.message


def test_a_thirty_character_name_is_fine():
    assert element({"a" * 30: 1})["update"]["values"] == {"u." + "a" * 30: 1}


@pytest.mark.parametrize("op, verb", [({"$incr": 10}, "$incr"), ({"$decr": 3}, "$decr")])
def test_increments_are_rejected_for_batch_with_a_clear_reason(op, verb):
    with pytest.raises(RecordRejected) as caught:
        element({"points": op})
    assert caught.value.code == "UNSUPPORTED_OPERATION" and verb in caught.value.message
