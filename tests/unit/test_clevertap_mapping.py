"""Record -> CleverTap upload record, rule by rule from the Upload User Profiles page
(https://developer.clevertap.com/docs/upload-user-profiles-api)."""

import pytest

from usersync.vendors.clevertap.mapping import (
    MAX_CUSTOM_KEYS, MAX_KEY_BYTES, MAX_VALUE_BYTES, upload_record, upload_steps,
)
from usersync.delivery.outcomes import RecordRejected
from usersync.records import parse_record


def record(attributes, **extra):
    return upload_record(parse_record({"user_id": "1189549", "attributes": attributes, **extra}))


def data(attributes):
    return record(attributes)["profileData"]


def rejected(attributes, **extra) -> RecordRejected:
    with pytest.raises(RecordRejected) as caught:
        record(attributes, **extra)
    return caught.value


def test_user_id_is_the_identity_and_the_record_a_profile_without_ts():
    # ts is optional ("defaults to the current timestamp"): the upload time is when the change happens.
    assert record({"Name": "Jack Montana"}) == {
        "identity": "1189549", "type": "profile", "profileData": {"Name": "Jack Montana"}}


def test_the_pages_example_profile_maps_property_for_property():
    attributes = {"Name": "Jack Montana", "Email": "jack@example.com", "Phone": "+14155551234", "Gender": "M",
                  "Employed": "Y", "Education": "Graduate", "Married": "Y", "MSG-sms": False, "MSG-email": True,
                  "MSG-whatsapp": True, "MSG-dndPhone": True, "MSG-dndEmail": True, "Customer Type": "Platinum"}
    assert data(attributes) == attributes  # names are CleverTap's own: never renamed


def test_scalars_keep_their_json_types():
    assert data({"age": 55, "level_progress": 45.09, "is_subscribed": True, "nickname": "V"}) == {
        "age": 55, "level_progress": 45.09, "is_subscribed": True, "nickname": "V"}


def test_dates_become_D_epoch_seconds():
    assert data({"DOB": {"$date": 1487576752}, "last_purchase": {"$date": "2016-01-10T10:00:00"}}) == {
        "DOB": "$D_1487576752", "last_purchase": "$D_1452420000"}


def test_urls_are_string_properties():
    assert data({"avatar": {"$url": "https://cdn.example.com/u/42.png"}}) == {"avatar": "https://cdn.example.com/u/42.png"}


def test_a_tag_list_sets_a_multi_value_property():
    assert data({"hobbies": ["cooking", "chess"]}) == {"hobbies": ["cooking", "chess"]}


def test_add_and_remove_are_multi_value_operators():
    assert data({"Custom Multi Value": {"$add": ["shoes", "bags"]}, "Other": {"$remove": ["hats"]}}) == {
        "Custom Multi Value": {"$add": ["shoes", "bags"]}, "Other": {"$remove": ["hats"]}}


def test_add_and_remove_on_one_property_go_in_two_steps_the_remove_first():
    """CleverTap takes one operator per property in a record: the $remove, then the $add (in the
    user's next call), with the record's other properties in the first step."""
    steps = upload_steps(parse_record({"user_id": "u", "attributes": {
        "locations": {"$add": ["Paris"], "$remove": ["Berlin"]}, "Name": "Ada"}}))
    assert [step["profileData"] for step in steps] == [
        {"locations": {"$remove": ["Berlin"]}, "Name": "Ada"}, {"locations": {"$add": ["Paris"]}}]
    assert all(step["identity"] == "u" for step in steps)


def test_one_operator_per_property_needs_one_step():
    assert len(upload_steps(parse_record({"user_id": "u", "attributes": {"a": {"$add": ["x"]}}}))) == 1


@pytest.mark.parametrize("op, sent", [({"$incr": 10}, {"$incr": 10}), ({"$decr": 30}, {"$decr": 30}),
                                      ({"$incr": 2.5}, {"$incr": 2.5})])
def test_increments_and_decrements(op, sent):
    assert data({"My Number": op}) == {"My Number": sent}


@pytest.mark.parametrize("name", ["Name", "Gender"])
def test_null_deletes_name_and_gender(name):
    assert data({name: None}) == {name: {"$delete": 1}}


def test_null_on_any_other_property_is_rejected_never_dropped():
    why = rejected({"referrer": None})
    assert (why.code, why.field) == ("UNSUPPORTED_OPERATION", "attributes.referrer")
    assert "only Name and Gender" in why.message


def test_overwrite_is_batch_only():
    why = rejected({"Name": "x"}, overwrite=True)
    assert (why.code, why.field) == ("UNSUPPORTED_OPERATION", "overwrite")


def test_keys_are_at_most_120_bytes_in_utf8():
    assert data({"k" * MAX_KEY_BYTES: 1})
    why = rejected({"é" * 61: 1})  # 122 bytes, 61 characters
    assert why.code == "VENDOR_RULE" and "120 bytes" in why.message


@pytest.mark.parametrize("value", [
    "x" * (MAX_VALUE_BYTES + 1), "€" * 171, {"$url": "https://e.com/" + "a" * 500}, ["ok", "y" * 513],
    {"$add": ["z" * 513]},
])
def test_values_are_at_most_512_bytes(value):
    why = rejected({"bio": value})
    assert (why.code, why.field) == ("VENDOR_RULE", "attributes.bio") and "512 bytes" in why.message


def test_a_512_byte_value_is_fine():
    assert data({"bio": "€" * 170 + "ab"})["bio"]


def test_at_most_256_custom_keys_standard_and_msg_keys_do_not_count():
    standard = {"Name": "n", "Email": "a@b.co", "MSG-push": True}
    assert len(data({**standard, **{f"k{i}": i for i in range(MAX_CUSTOM_KEYS)}})) == MAX_CUSTOM_KEYS + 3
    why = rejected({f"k{i}": i for i in range(MAX_CUSTOM_KEYS + 1)})
    assert (why.code, why.field) == ("VENDOR_RULE", "attributes") and "256" in why.message


@pytest.mark.parametrize("phone", ["+14155551234", "+33612345678", "+919876543210"])
def test_phone_in_international_format_is_sent(phone):
    assert data({"Phone": phone}) == {"Phone": phone}


@pytest.mark.parametrize("phone", ["4155551234", "+1 415 555 1234", "+1-415-555-1234", "+0123456789", "+12",
                                   14155551234, None, {"$incr": 1}])
def test_phone_outside_the_format_is_rejected_before_sending(phone):
    why = rejected({"Phone": phone})
    assert (why.code, why.field) == ("VENDOR_RULE", "attributes.Phone") and "+<country code><number>" in why.message
