"""Record -> CleverTap upload record, with CleverTap's limits checked before sending
(vendor page: https://developer.clevertap.com/docs/upload-user-profiles-api), so one bad record never costs its neighbours.

    {"user_id": "u1", "attributes": {"Customer Type": "Platinum", "DOB": {"$date": 1487576752}}}
    -> {"identity": "u1", "type": "profile", "profileData": {"Customer Type": "Platinum", "DOB": "$D_1487576752"}}

Property names go through unchanged (CleverTap's are free text: "Customer Type", "MSG-sms").
`ts` is not sent: CleverTap then stamps the upload time, which is when the change happens.
"""

from __future__ import annotations

import re
from typing import Any

from usersync.delivery.outcomes import RecordRejected
from usersync.failures import FailureCode
from usersync.records import (
    EditTags, Increment, Operation, Remove, ReplaceTags, SetDate, SetUrl, SetValue, UserChange,
)

# CleverTap's upload page has said 100 records per call, its current docs 1,000: 100 by default, up to 1,000.
DEFAULT_RECORDS_PER_CALL = 100
MAX_RECORDS_PER_CALL = 1_000
MAX_CONCURRENT_CALLS = 15  # per account; past it CleverTap answers 429 "Too many concurrent requests"
MAX_KEY_BYTES = 120
MAX_VALUE_BYTES = 512
MAX_CUSTOM_KEYS = 256
DELETABLE_KEYS = ("Name", "Gender")  # "$delete applicable only to name and gender fields"
# Standard profile properties (the page's example, and Age/Photo from CleverTap's profile docs);
# every other key, apart from MSG-* and the subscription keys, counts as a custom key.
STANDARD_KEYS = frozenset({"Name", "Email", "Phone", "Gender", "Employed", "Education", "Married", "DOB", "Age",
                           "Photo", "category-unsubscribe", "category-resubscribe"})
PHONE_KEY = "Phone"
PHONE_PATTERN = re.compile(r"\+[1-9][0-9]{6,14}")  # "+[country code][phone number]", E.164 digits


def is_custom_key(key: str) -> bool:
    return key not in STANDARD_KEYS and not key.startswith("MSG-")


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _check_value(name: str, value: Any, field: str) -> None:
    if isinstance(value, str) and _size(value) > MAX_VALUE_BYTES:
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"CleverTap values are at most {MAX_VALUE_BYTES} bytes; '{name}' has {_size(value)} (UTF-8)",
            field,
        )


def _check_phone(op: Operation, field: str) -> None:
    if not (isinstance(op, SetValue) and isinstance(op.value, str) and PHONE_PATTERN.fullmatch(op.value)):
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            "CleverTap needs Phone as a string +<country code><number>, digits only (e.g. +14155551234)",
            field,
        )


def property_value(name: str, op: Operation, field: str) -> Any:
    """One attribute operation -> its value in profileData."""
    if isinstance(op, SetValue):
        _check_value(name, op.value, field)
        return op.value
    if isinstance(op, SetDate):
        return f"$D_{op.epoch}"
    if isinstance(op, SetUrl):
        _check_value(name, op.url, field)
        return op.url  # CleverTap has no URL type: a URL is a string property
    if isinstance(op, ReplaceTags):
        for value in op.values:
            _check_value(name, value, field)
        return list(op.values)  # an array sets a multi-value property
    if isinstance(op, EditTags):
        if op.add and op.remove:  # upload_steps sends them in two calls; one record cannot hold both
            raise ValueError(f"one CleverTap upload record cannot hold both $add and $remove on '{name}'")
        for value in op.add + op.remove:
            _check_value(name, value, field)
        return {"$remove": list(op.remove)} if op.remove else {"$add": list(op.add)}
    if isinstance(op, Increment):
        return {"$decr" if op.decrement else "$incr": op.by}
    if isinstance(op, Remove):
        if name in DELETABLE_KEYS:
            return {"$delete": 1}
        raise RecordRejected(
            FailureCode.UNSUPPORTED_OPERATION,
            f"CleverTap can remove only {' and '.join(DELETABLE_KEYS)} ($delete); it cannot remove '{name}': "
            "send a value instead, or leave the attribute out of CleverTap's records",
            field,
        )
    raise RecordRejected(FailureCode.UNSUPPORTED_OPERATION, f"CleverTap cannot apply this operation to '{name}'", field)


def upload_steps(change: UserChange) -> list[dict[str, Any]]:
    """The change as CleverTap applies it: one upload record, or two when a property has both $add
    and $remove (CleverTap takes one operator per property in a record): the $remove first, then,
    in the next call for that user, the $add."""
    both = {name: op for name, op in change.attributes.items() if isinstance(op, EditTags) and op.add and op.remove}
    if not both:
        return [upload_record(change)]
    first = {name: EditTags(remove=op.remove) if name in both else op for name, op in change.attributes.items()}
    then = {name: EditTags(add=op.add) for name, op in both.items()}
    return [upload_record(change.model_copy(update={"attributes": first})),
            upload_record(change.model_copy(update={"attributes": then}))]


def upload_record(change: UserChange) -> dict[str, Any]:
    """The element of `d` for one user: `{"identity", "type": "profile", "profileData"}`."""
    if change.overwrite:
        raise RecordRejected(
            FailureCode.UNSUPPORTED_OPERATION,
            "CleverTap merges profile updates and has no overwrite: send overwrite only to Batch destinations",
            "overwrite",
        )
    data: dict[str, Any] = {}
    for name, op in change.attributes.items():
        field = f"attributes.{name}"
        if _size(name) > MAX_KEY_BYTES:
            raise RecordRejected(
                FailureCode.VENDOR_RULE,
                f"CleverTap property names are at most {MAX_KEY_BYTES} bytes; this one has {_size(name)} (UTF-8)",
                field,
            )
        if name == PHONE_KEY:
            _check_phone(op, field)
        data[name] = property_value(name, op, field)
    custom = sum(1 for key in data if is_custom_key(key))
    if custom > MAX_CUSTOM_KEYS:
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"CleverTap accounts hold at most {MAX_CUSTOM_KEYS} custom profile properties; this record alone has {custom}",
            "attributes",
        )
    return {"identity": change.user_id, "type": "profile", "profileData": data}
