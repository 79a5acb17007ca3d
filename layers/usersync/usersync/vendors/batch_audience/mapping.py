"""Audience change -> Batch Custom Audience 1.1 PATCH element, with the page's rules checked before
sending (vendor page: https://doc.batch.com/developer/api/mep/custom-audience/1.1/update): one bad element would fail a whole call.

    {"audience": "vip_users", "install_id": "8a3c", "action": "add", "attributes": {"tier": "gold"}, "tags": ["beta"]}
    -> PATCH .../custom-audience/vip_users  {"ids": [{"action": "add", "id": "8a3c", "attributes": {"tier": "gold"}, "tags": ["beta"]}]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from usersync.vendors.batch.mapping import attribute_entry
from usersync.delivery.outcomes import RecordRejected
from usersync.records import AudienceChange, EditTags, Remove, ReplaceTags
from usersync.failures import FailureCode

MAX_IDS_PER_CALL = 10_000
MAX_ATTRIBUTES_PER_ID = 15
MAX_AUDIENCE_NAME_LENGTH = 255
AUDIENCE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,%d}" % MAX_AUDIENCE_NAME_LENGTH)


@dataclass(frozen=True, slots=True)
class AudiencePatch:
    """One element of a PATCH body and the audience it goes to (its URL)."""
    audience: str
    element: dict[str, Any]

    @property
    def install_id(self) -> str:
        return self.element["id"]


def check_audience_name(name: str) -> None:
    if not AUDIENCE_NAME_PATTERN.fullmatch(name):
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"Batch audience names are 1-{MAX_AUDIENCE_NAME_LENGTH} characters of A-Z, a-z, 0-9, _ or -; got {name[:60]!r}",
            "audience",
        )


def _attributes(change: AudienceChange) -> dict[str, Any]:
    if len(change.attributes) > MAX_ATTRIBUTES_PER_ID:
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"Batch takes at most {MAX_ATTRIBUTES_PER_ID} attributes per audience member; got {len(change.attributes)}",
            "attributes",
        )
    attributes: dict[str, Any] = {}
    for name, op in change.attributes.items():
        field = f"attributes.{name}"
        if isinstance(op, (ReplaceTags, EditTags)):
            raise RecordRejected(
                FailureCode.UNSUPPORTED_OPERATION,
                f"Batch audience attributes cannot hold tag collections ('{name}'): put the values in the record's tags",
                field,
            )
        if isinstance(op, Remove):
            raise RecordRejected(
                FailureCode.UNSUPPORTED_OPERATION,
                f"an audience member's attributes are set anew with each add: leave '{name}' out instead of null",
                field,
            )
        key, value = attribute_entry(name, op, field, prefix="")  # no "u." for audiences
        attributes[key] = value
    return attributes


def patch_element(change: AudienceChange) -> AudiencePatch:
    check_audience_name(change.audience)
    element: dict[str, Any] = {"action": change.action, "id": change.install_id}
    if change.action == "remove":
        for field, present in (("attributes", change.attributes), ("tags", change.tags)):
            if present:
                raise RecordRejected(FailureCode.VENDOR_RULE, f"Batch accepts {field} only with the add action", field)
        return AudiencePatch(change.audience, element)
    attributes = _attributes(change)
    if attributes:
        element["attributes"] = attributes
    if change.tags:
        element["tags"] = list(change.tags)
    return AudiencePatch(change.audience, element)


def last_action_per_id(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each id's last element only ("if multiple actions are given for the same ID, only the last
    one will be taken into account"), sent in the order those last actions came."""
    last: dict[str, dict[str, Any]] = {}
    for element in elements:
        last.pop(element["id"], None)
        last[element["id"]] = element
    return list(last.values())
