"""Record -> Batch Custom Data bulk element, with Batch's rules checked before sending
(vendor page: https://doc.batch.com/api/custom-data-api/set-update/), so one bad record never sinks a whole bulk call."""

from __future__ import annotations

import re
from typing import Any

from usersync.delivery.outcomes import RecordRejected
from usersync.failures import FailureCode
from usersync.records import (
    EditTags, Increment, Operation, Remove, ReplaceTags, SetDate, SetUrl, SetValue, UserChange,
)

MAX_BULK_USERS = 10_000
MAX_NAME_LENGTH = 30
NAME_PATTERN = re.compile(r"[a-z0-9_]{1,%d}" % MAX_NAME_LENGTH)


class KnownNames:
    """The names already found to follow a pattern: one regex per name, not per attribute of every
    record. Bounded: past `limit` names, more are checked each time (a name that fails is never kept)."""

    def __init__(self, pattern: re.Pattern[str], limit: int = 4096):
        self._fullmatch, self._limit = pattern.fullmatch, limit
        self.known: set[str] = set()  # `name in known` first spares the call

    def __call__(self, name: str) -> bool:
        if name in self.known:
            return True
        if self._fullmatch(name) is None:
            return False
        if len(self.known) < self._limit:
            self.known.add(name)
        return True


valid_name = KnownNames(NAME_PATTERN)


def check_name(name: str, field: str) -> None:
    if not valid_name(name):
        raise RecordRejected(
            FailureCode.VENDOR_RULE,
            f"Batch names must be 1-{MAX_NAME_LENGTH} characters of a-z, 0-9 or _ (no uppercase); "
            f"got {name!r}. Rename it at the source: usersync never renames silently",
            field,
        )


def attribute_entry(name: str, op: Operation, field: str, prefix: str = "u.") -> tuple[str, Any]:
    """One attribute operation -> its Batch key and value. `prefix` is "" for Custom Audiences."""
    check_name(name, field)
    if isinstance(op, SetValue):
        return f"{prefix}{name}", op.value
    if isinstance(op, Remove):
        return f"{prefix}{name}", None
    if isinstance(op, SetDate):
        return f"date({prefix}{name})", op.epoch
    if isinstance(op, SetUrl):  # Batch's URL rule is the record format's (usersync.records.parse_url)
        return f"url({prefix}{name})", op.url
    if isinstance(op, Increment):
        verb = "$decr" if op.decrement else "$incr"
        raise RecordRejected(
            FailureCode.UNSUPPORTED_OPERATION,
            f"Batch cannot apply {verb} to '{name}': send the attribute's new value instead",
            field,
        )
    raise RecordRejected(FailureCode.UNSUPPORTED_OPERATION, f"Batch cannot apply this operation to '{name}'", field)


def tag_entry(name: str, op: ReplaceTags | EditTags, field: str) -> tuple[str, Any]:
    check_name(name, field)
    if isinstance(op, ReplaceTags):
        return f"ut.{name}", list(op.values)
    edit: dict[str, list[str]] = {}
    if op.add:
        edit["$add"] = list(op.add)
    if op.remove:
        edit["$remove"] = list(op.remove)
    return f"ut.{name}", edit


def bulk_element(change: UserChange) -> dict[str, Any]:
    """The element of a bulk call for one user: `{"id": ..., "update": {"overwrite"?, "values"}}`."""
    values: dict[str, Any] = {}
    known = valid_name.known
    for name, op in change.attributes.items():
        kind = type(op)  # the usual operations inline; the rest (and every error) by the entries
        if kind is SetValue and (name in known or valid_name(name)):
            values["u." + name] = op.value
        elif kind is ReplaceTags and (name in known or valid_name(name)):
            values["ut." + name] = list(op.values)
        elif kind is SetDate and (name in known or valid_name(name)):
            values[f"date(u.{name})"] = op.epoch
        else:
            field = f"attributes.{name}"
            if kind is ReplaceTags or kind is EditTags:
                key, value = tag_entry(name, op, field)
            else:
                key, value = attribute_entry(name, op, field)
            values[key] = value
    update: dict[str, Any] = {"values": values}
    if change.overwrite:
        update["overwrite"] = True
    return {"id": change.user_id, "update": update}
