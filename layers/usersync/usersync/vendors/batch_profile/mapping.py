"""Record -> Batch Profile API profile update, with the rules Batch documents checked before sending
(docs/vendors/batch-profile.md says which page each rule comes from), so one bad record never costs
its neighbours a call.

    {"user_id": "u1", "attributes": {"plan": "pro", "signup": {"$date": 1472656161}, "$region": "FR"}}
    -> {"identifiers": {"custom_id": "u1"},
        "attributes": {"plan": "pro", "date(signup)": "2016-08-31T15:09:21Z", "$region": "FR"}}

Names go through unchanged: a custom attribute is 1-30 characters of a-z, 0-9, _ (no `u.` prefix, no
uppercase), a name starting with `$` is one of Batch's native attributes, each with its own rule.
What the Profile API cannot take ($incr/$decr, overwrite) is refused per record, never rewritten.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from usersync.delivery.outcomes import RecordRejected
from usersync.failures import FailureCode
from usersync.records import (
    EditTags, Increment, Operation, Remove, ReplaceTags, SetDate, SetUrl, SetValue, UserChange,
)
from usersync.vendors.batch.mapping import KnownNames

NAME_PATTERN = re.compile(r"[a-z0-9_]{1,30}")
valid_name = KnownNames(NAME_PATTERN)
MAX_NAME_LENGTH = 30
MAX_STRING_LENGTH = 300   # a string attribute "cannot be empty or over 300 characters"
MAX_ARRAY_ITEMS = 25      # a string array holds at most 25 strings, each a valid string attribute

# Native attributes: their names start with `$`; `null` deletes (or, for a subscription, resets) them.
EMAIL_ADDRESS, EMAIL_MARKETING = "$email_address", "$email_marketing"
PHONE_NUMBER, SMS_MARKETING = "$phone_number", "$sms_marketing"
LANGUAGE, REGION, TIMEZONE = "$language", "$region", "$timezone"
SUBSCRIPTION_STATES = ("subscribed", "unsubscribed")
NATIVE_RULES: dict[str, tuple[re.Pattern[str] | tuple[str, ...], str]] = {
    EMAIL_ADDRESS: (re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+"), "an email address"),
    EMAIL_MARKETING: (SUBSCRIPTION_STATES, '"subscribed" or "unsubscribed" (null resets it)'),
    PHONE_NUMBER: (re.compile(r"\+[1-9][0-9]{1,14}"), "an E.164 phone number: + then up to 15 digits (+33639981337)"),
    SMS_MARKETING: (SUBSCRIPTION_STATES, '"subscribed" or "unsubscribed" (null resets it)'),
    LANGUAGE: (re.compile(r"[a-z]{2}"), "an ISO 639-1 language code: two lowercase letters (en)"),
    REGION: (re.compile(r"[A-Z]{2}"), "an ISO 3166-1 region code: two uppercase letters (FR)"),
    # The shape of an IANA zone name; whether the zone exists is Batch's to say, per record.
    TIMEZONE: (re.compile(r"UTC|[A-Z][A-Za-z_]*(/[A-Za-z0-9_+\-]+){1,2}"), "an IANA time zone name (Europe/Paris)"),
}


def profile_update(change: UserChange) -> dict[str, Any]:
    """The element of a profiles/update or profiles/mass-update call for one user."""
    if change.overwrite:
        raise RecordRejected(
            FailureCode.UNSUPPORTED_OPERATION,
            "Batch's Profile API merges each update into the profile and has no overwrite: send the attributes "
            "to set, null for those to delete, or overwrite only to Batch Custom Data destinations",
            "overwrite",
        )
    attributes: dict[str, Any] = {}
    for name, op in change.attributes.items():
        key, value = attribute_entry(name, op, f"attributes.{name}")
        attributes[key] = value
    update: dict[str, Any] = {"identifiers": {"custom_id": change.user_id}}
    if attributes:
        update["attributes"] = attributes
    return update


def attribute_entry(name: str, op: Operation, field: str) -> tuple[str, Any]:
    """One attribute operation -> its key and value in the `attributes` object."""
    if isinstance(op, Increment):
        verb = "$decr" if op.decrement else "$incr"
        raise RecordRejected(
            FailureCode.UNSUPPORTED_OPERATION,
            f"Batch's Profile API documents no increment: it cannot apply {verb} to '{name}'; send the new value",
            field,
        )
    if name.startswith("$"):
        return name, _native_value(name, op, field)
    if not valid_name(name):
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"Batch attribute names are 1-{MAX_NAME_LENGTH} characters of a-z, 0-9 or _ (no uppercase), or one of "
            f"its native attributes ({', '.join(NATIVE_RULES)}); got {name!r}. Rename it at the source: usersync "
            "never renames",
            field,
        )
    if isinstance(op, Remove):
        return name, None  # "deleting an attribute": its name with null, whatever its type
    if isinstance(op, SetValue):
        if isinstance(op.value, str):
            _check_string(name, op.value, field)
        return name, op.value
    if isinstance(op, SetDate):
        return f"date({name})", iso_date(op.epoch)
    if isinstance(op, SetUrl):  # Batch's URL rule is the record format's (usersync.records.parse_url)
        return f"url({name})", op.url
    if isinstance(op, ReplaceTags):
        _check_array(name, op.values, field)
        # An empty array is no array: the attribute is deleted, as Batch's own null does.
        return name, list(op.values) if op.values else None
    if isinstance(op, EditTags):
        edit: dict[str, list[str]] = {}
        for verb, values in (("$add", op.add), ("$remove", op.remove)):
            if values:
                _check_array(name, values, field)
                edit[verb] = list(values)
        return name, edit
    raise RecordRejected(FailureCode.UNSUPPORTED_OPERATION, f"Batch cannot apply this operation to '{name}'", field)


def iso_date(epoch: int) -> str:
    """A date as the Profile API takes it: ISO-8601 in UTC with its zone (1989-07-20T00:00:00Z)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _native_value(name: str, op: Operation, field: str) -> Any:
    rule = NATIVE_RULES.get(name)
    if rule is None:
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"{name!r} is not one of Batch's native attributes ({', '.join(NATIVE_RULES)}), and custom attribute "
            "names cannot start with $",
            field,
        )
    if isinstance(op, Remove):
        return None
    allowed, expected = rule
    value = op.value if isinstance(op, SetValue) else None
    valid = isinstance(value, str) and (value in allowed if isinstance(allowed, tuple) else allowed.fullmatch(value))
    if not valid:
        raise RecordRejected(FailureCode.VENDOR_RULE, f"Batch's {name} must be {expected}, or null", field)
    return value


def _check_string(name: str, value: str, field: str) -> None:
    if not 0 < len(value) <= MAX_STRING_LENGTH:
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"Batch string attributes hold 1 to {MAX_STRING_LENGTH} characters; '{name}' has {len(value)} "
            "(null deletes the attribute)",
            field,
        )


def _check_array(name: str, values: tuple[str, ...], field: str) -> None:
    if len(values) > MAX_ARRAY_ITEMS:
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"Batch string arrays hold at most {MAX_ARRAY_ITEMS} strings; '{name}' has {len(values)}",
            field,
        )
    for value in values:
        _check_string(name, value, field)
