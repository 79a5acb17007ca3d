"""Record -> Batch Profile API profile update, rule by rule from the vendor notes
(docs/vendors/batch-profile.md)."""

import pytest

from usersync.delivery.outcomes import RecordRejected
from usersync.records import InvalidRecord, parse_record
from usersync.vendors.batch_profile.mapping import MAX_ARRAY_ITEMS, MAX_STRING_LENGTH, profile_update


def update(attributes, **extra):
    return profile_update(parse_record({"user_id": "vincent-42", "attributes": attributes, **extra}))


def refused(attributes, **extra) -> RecordRejected:
    with pytest.raises(RecordRejected) as caught:
        update(attributes, **extra)
    return caught.value


def test_the_custom_id_is_the_user_id_and_scalars_go_as_they_are():
    assert update({"nickname": "Vincent", "age": 55, "level": 45.09, "vip": True}) == {
        "identifiers": {"custom_id": "vincent-42"},
        "attributes": {"nickname": "Vincent", "age": 55, "level": 45.09, "vip": True}}


def test_a_record_without_attributes_is_the_identifiers_alone():
    assert update({}) == {"identifiers": {"custom_id": "vincent-42"}}


def test_null_deletes_an_attribute_by_its_name():
    assert update({"referrer": None})["attributes"] == {"referrer": None}


def test_dates_are_wrapped_in_date_as_utc_iso_8601_with_its_zone():
    attributes = update({"last_purchase": {"$date": "2016-01-10T12:00:00+02:00"}, "signup": {"$date": 1472656161}})
    assert attributes["attributes"] == {"date(last_purchase)": "2016-01-10T10:00:00Z",
                                        "date(signup)": "2016-08-31T15:09:21Z"}


def test_urls_are_wrapped_in_url_and_batchs_url_rule_is_the_record_formats():
    assert update({"avatar": {"$url": "myapp://path/to"}})["attributes"] == {"url(avatar)": "myapp://path/to"}
    for url in ("cdn.example.com/a.png", "https://x/" + "a" * 2048):
        with pytest.raises(InvalidRecord) as refused_early:
            update({"avatar": {"$url": url}})
        assert refused_early.value.field == "attributes.avatar"


def test_string_arrays_replace_and_add_remove_edit():
    assert update({"interests": ["bikes", "cinema"], "rewards": {"$add": ["premium"], "$remove": ["basic"]},
                   "visited": {"$remove": ["Rome"]}})["attributes"] == {
        "interests": ["bikes", "cinema"], "rewards": {"$add": ["premium"], "$remove": ["basic"]},
        "visited": {"$remove": ["Rome"]}}


def test_an_empty_array_deletes_the_attribute():
    assert update({"interests": []})["attributes"] == {"interests": None}


def test_arrays_hold_at_most_25_strings_of_at_most_300_characters():
    assert update({"tags": ["t"] * MAX_ARRAY_ITEMS})["attributes"]["tags"] == ["t"] * MAX_ARRAY_ITEMS
    assert refused({"tags": ["t"] * (MAX_ARRAY_ITEMS + 1)}).field == "attributes.tags"
    assert refused({"tags": {"$add": ["x" * (MAX_STRING_LENGTH + 1)]}}).code == "VENDOR_RULE"
    assert refused({"tags": [""]}).code == "VENDOR_RULE"


def test_strings_hold_1_to_300_characters():
    assert update({"bio": "x" * MAX_STRING_LENGTH})["attributes"]["bio"] == "x" * MAX_STRING_LENGTH
    for value in ("", "x" * (MAX_STRING_LENGTH + 1)):
        why = refused({"bio": value})
        assert (why.code, why.field) == ("VENDOR_RULE", "attributes.bio") and "300" in why.message


@pytest.mark.parametrize("name", ["Level", "first name", "a" * 31, "u.level", "date(x)", "été"])
def test_names_are_never_renamed_a_name_batch_refuses_is_refused_here(name):
    why = refused({name: 1})
    assert (why.code, why.field) == ("VENDOR_RULE", f"attributes.{name}") and "never renames" in why.message


@pytest.mark.parametrize("op", [{"$incr": 1}, {"$decr": 2}])
def test_increments_are_refused_the_profile_api_documents_none(op):
    why = refused({"points": op, "plan": "pro"})
    assert (why.code, why.field) == ("UNSUPPORTED_OPERATION", "attributes.points")
    assert next(iter(op)) in why.message


def test_overwrite_is_refused():
    why = refused({"plan": "pro"}, overwrite=True)
    assert (why.code, why.field) == ("UNSUPPORTED_OPERATION", "overwrite")


NATIVE = {"$email_address": "jane@batch-store.com", "$email_marketing": "subscribed", "$phone_number": "+33639981337",
          "$sms_marketing": "unsubscribed", "$language": "en", "$region": "FR", "$timezone": "Europe/Paris"}


def test_native_attributes_go_by_their_own_names():
    assert update(NATIVE)["attributes"] == NATIVE
    assert update({"$timezone": "America/Argentina/Buenos_Aires"})["attributes"]  # area/location/place
    assert update({"$timezone": "UTC"})["attributes"]


def test_null_deletes_or_resets_a_native_attribute():
    assert update({name: None for name in NATIVE})["attributes"] == {name: None for name in NATIVE}


@pytest.mark.parametrize("name, value", [
    ("$email_address", "not an email"), ("$email_address", 42),
    ("$email_marketing", "yes"), ("$sms_marketing", True),
    ("$phone_number", "0639981337"), ("$phone_number", "+33 6 39 98 13 37"), ("$phone_number", "+0639981337"),
    ("$language", "EN"), ("$language", "fra"), ("$language", "en-US"),
    ("$region", "fr"), ("$region", "FRA"),
    ("$timezone", "Paris"), ("$timezone", "europe/paris"),
    ("$email_address", {"$date": 1}), ("$region", ["FR"]),
])
def test_a_native_attribute_breaking_its_rule_is_refused_naming_it(name, value):
    why = refused({name: value})
    assert (why.code, why.field) == ("VENDOR_RULE", f"attributes.{name}") and name in why.message


def test_an_unknown_native_name_is_refused():
    why = refused({"$email": "jane@batch-store.com"})
    assert (why.code, why.field) == ("VENDOR_RULE", "attributes.$email") and "$email_address" in why.message
