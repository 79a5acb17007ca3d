"""Audience change -> Custom Audience 1.1 PATCH element, and the calls planned for a batch of them,
rule by rule from batch-custom-audience-api.txt."""

import json
import math

import pytest

from usersync.vendors.base import VendorContext
from usersync.vendors.batch_audience.destination import BatchAudienceSettings, plan_audience_calls
from usersync.vendors.batch_audience.mapping import (
    MAX_ATTRIBUTES_PER_ID, MAX_IDS_PER_CALL, AudiencePatch, last_action_per_id, patch_element,
)
from usersync.delivery.outcomes import RecordRejected
from usersync.delivery.pipeline import deliver
from usersync.parsing.messages import records_in_message
from usersync.records import parse_record


def change(action="add", audience="vip_users", install_id="INSTALL-ID-1", **extra):
    return parse_record({"audience": audience, "install_id": install_id, "action": action, **extra})


def element(**kwargs):
    return patch_element(change(**kwargs)).element


def rejected(**kwargs) -> RecordRejected:
    with pytest.raises(RecordRejected) as caught:
        patch_element(change(**kwargs))
    return caught.value


def test_the_pages_example_add_element():
    assert element(attributes={"att1": 3, "att2": "string", "att15": {"$date": "2012-08-12T22:30:05"},
                               "att20": {"$url": "https://example.com/x"}}, tags=["value-1", "value-2"]) == {
        "action": "add", "id": "INSTALL-ID-1",
        "attributes": {"att1": 3, "att2": "string", "date(att15)": 1344810605, "url(att20)": "https://example.com/x"},
        "tags": ["value-1", "value-2"]}


def test_a_remove_is_action_and_id_only():
    assert element(action="remove", install_id="INSTALL-ID-2") == {"action": "remove", "id": "INSTALL-ID-2"}


def test_an_add_without_attributes_or_tags_sends_neither():
    assert element() == {"action": "add", "id": "INSTALL-ID-1"}


def test_the_audience_goes_in_the_url_not_the_element():
    assert patch_element(change(audience="Beta-Testers_2")).audience == "Beta-Testers_2"


@pytest.mark.parametrize("name", ["vip users", "vip.users", "vip/users", "été", "a" * 256])
def test_audience_names_outside_the_rule_are_rejected(name):
    why = rejected(audience=name)
    assert (why.code, why.field) == ("VENDOR_RULE", "audience")


def test_a_255_character_audience_name_is_fine():
    assert patch_element(change(audience="A" * 255)).audience == "A" * 255


@pytest.mark.parametrize("extra, field", [({"attributes": {"tier": "gold"}}, "attributes"), ({"tags": ["beta"]}, "tags")])
def test_attributes_and_tags_only_with_add(extra, field):
    why = rejected(action="remove", **extra)
    assert (why.code, why.field) == ("VENDOR_RULE", field) and "only with the add action" in why.message


def test_at_most_15_attributes():
    assert len(element(attributes={f"a{i}": i for i in range(MAX_ATTRIBUTES_PER_ID)})["attributes"]) == 15
    why = rejected(attributes={f"a{i}": i for i in range(MAX_ATTRIBUTES_PER_ID + 1)})
    assert (why.code, why.field) == ("VENDOR_RULE", "attributes")


def test_attributes_take_no_u_prefix_and_follow_custom_data_names():
    assert element(attributes={"tier": "gold"})["attributes"] == {"tier": "gold"}
    for name in ("u.tier", "Tier", "a" * 31):
        why = rejected(attributes={name: "gold"})
        assert (why.code, why.field) == ("VENDOR_RULE", f"attributes.{name}")


@pytest.mark.parametrize("value", [["a"], {"$add": ["a"]}])
def test_tag_collections_are_not_attributes(value):
    why = rejected(attributes={"colours": value})
    assert why.code == "UNSUPPORTED_OPERATION" and "tags" in why.message


@pytest.mark.parametrize("value, code", [(None, "UNSUPPORTED_OPERATION"), ({"$incr": 1}, "UNSUPPORTED_OPERATION")])
def test_values_custom_data_rules_refuse(value, code):
    assert rejected(attributes={"x": value}).code == code


def test_the_last_action_per_id_wins():
    elements = [{"action": "add", "id": "a"}, {"action": "add", "id": "b"}, {"action": "remove", "id": "a"},
                {"action": "add", "id": "c"}, {"action": "add", "id": "a", "tags": ["back"]}]
    assert last_action_per_id(elements) == [{"action": "add", "id": "b"}, {"action": "add", "id": "c"},
                                            {"action": "add", "id": "a", "tags": ["back"]}]


# --- calls -------------------------------------------------------------------------------------


class FakeAudienceClient:
    def __init__(self):
        self.calls = []

    def update(self, audience, elements):
        self.calls.append((audience, elements))
        return f"token-{len(self.calls)}"


def destination(batch_size=MAX_IDS_PER_CALL):
    settings = BatchAudienceSettings(type="batch_audience", api_key="k", rest_key="r", batch_size=batch_size)
    dest = settings.build("audiences", VendorContext())
    fake = FakeAudienceClient()
    dest._client.get = lambda: fake
    return dest, fake


def items(*records):
    return list(records_in_message("m", json.dumps(list(records))))


def audience_record(install_id, audience="vip_users", action="add"):
    return {"audience": audience, "install_id": install_id, "action": action}


def test_calls_are_ceil_of_distinct_ids_per_audience_over_the_batch_size():
    dest, fake = destination(batch_size=4)
    records = [audience_record(f"i{i}") for i in range(10)] + [audience_record(f"j{i}", "beta") for i in range(3)]
    report = deliver(items(*records), {"audiences": dest})
    assert len(fake.calls) == math.ceil(10 / 4) + math.ceil(3 / 4) == 4
    assert sorted(len(elements) for _, elements in fake.calls) == [2, 3, 4, 4]
    assert report.delivered == {"audiences": 13}
    tokens = {d.token: d.context for d in report.deliveries}
    assert sorted(c["audience"] for c in tokens.values()) == ["beta", "vip_users", "vip_users", "vip_users"]
    assert {d.token_kind for d in report.deliveries} == {"indexing"}


def test_an_ids_changes_share_one_call_where_its_last_action_wins_and_all_count_delivered():
    dest, fake = destination(batch_size=2)
    records = [audience_record("a"), audience_record("b"), audience_record("a", action="remove"),
               audience_record("c"), audience_record("a")]
    report = deliver(items(*records), {"audiences": dest})
    assert len(fake.calls) == 2  # ids a, b then c: ceil(3 / 2), whatever the repeats
    sent = {e["id"]: e["action"] for _, elements in fake.calls for e in elements}
    assert sent == {"a": "add", "b": "add", "c": "add"}
    [first] = [elements for _, elements in fake.calls if any(e["id"] == "a" for e in elements)]
    assert [e["id"] for e in first] == ["b", "a"]  # a once, in the place of its last action
    assert report.delivered == {"audiences": 5} and not report.failed


def test_ten_thousand_ids_make_one_call_and_ten_thousand_and_one_two():
    prepared_one = plan_audience_calls(
        [_prepared(str(i)) for i in range(MAX_IDS_PER_CALL)], MAX_IDS_PER_CALL)
    prepared_two = plan_audience_calls(
        [_prepared(str(i)) for i in range(MAX_IDS_PER_CALL + 1)], MAX_IDS_PER_CALL)
    assert [len(c) for c in prepared_one[0]] == [MAX_IDS_PER_CALL]
    assert [len(c) for c in prepared_two[0]] == [MAX_IDS_PER_CALL, 1]


def _prepared(install_id, audience="vip"):
    from usersync.delivery.plan import Part
    return Part(AudiencePatch(audience, {"action": "add", "id": install_id}), install_id, ())


def test_send_refuses_a_call_that_mixes_audiences():
    dest, _ = destination()
    with pytest.raises(ValueError):
        dest.send([AudiencePatch("a", {"action": "add", "id": "1"}), AudiencePatch("b", {"action": "add", "id": "2"})])
