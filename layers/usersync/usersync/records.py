"""The record: one user change as users write it (docs/record-format.md), parsed into typed operations.

Vendor-neutral on purpose: what each vendor can or cannot apply is decided by its
mapping module, so one record can reach several vendors with per-destination outcomes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel, ConfigDict, Field, StrictBool, StringConstraints, ValidationError, ValidationInfo, field_validator,
)

from usersync.failures import FailureCode
from usersync.limits import DEFAULT_LIMITS, InputLimits


# --- operations on one attribute -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SetValue:
    """A scalar sets the attribute."""
    value: str | int | float | bool


@dataclass(frozen=True, slots=True)
class Remove:
    """`null` removes the attribute."""


@dataclass(frozen=True, slots=True)
class SetDate:
    """`{"$date": ...}`: kept as UTC epoch seconds, the one form every vendor takes."""
    epoch: int


@dataclass(frozen=True, slots=True)
class SetUrl:
    url: str


@dataclass(frozen=True, slots=True)
class ReplaceTags:
    """A list of strings replaces a tag collection / multi-value property."""
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EditTags:
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Increment:
    """`{"$incr": n}`; `{"$decr": n}` is an Increment with `decrement=True` (n stays positive)."""
    by: int | float
    decrement: bool = False


Operation = Union[SetValue, Remove, SetDate, SetUrl, ReplaceTags, EditTags, Increment]
REMOVE = Remove()


class InvalidValue(ValueError):
    """A value that does not follow the record format; the message says what is expected.
    `field` (a dotted path), when set, overrides where the record's error points."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class JsonFlaw:
    """A value the strict JSON reading (usersync.parsing.strict_json) refused where it stood: a
    duplicate key, NaN or Infinity, an integer of too many digits, too deep a nesting. It is no
    value of the format, so the record holding it is rejected, naming the field."""
    reason: str

    def __str__(self) -> str:
        return f"<{self.reason}>"


# --- rules every value follows, whatever its destination ------------------------------------

# 64-bit signed: the integer every vendor's JSON reader takes (neither page states a wider range).
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1
INT_MAX_DIGITS = len(str(INT_MAX))
# $date: epoch seconds of years 1 to 9999 (UTC), the range of an ISO-8601 date.
EPOCH_MIN = int(datetime(1, 1, 1, tzinfo=timezone.utc).timestamp())
EPOCH_MAX = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp())
# $url: Batch's rule (a scheme, `://`, at most 2,048 characters), for every destination.
MAX_URL_CHARS = 2048
URL_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")
# Text: no control character but tab, line feed and carriage return (names and ids: none at all),
# no lone surrogate (not Unicode: nothing can encode it), no U+FFFE / U+FFFF (SQS refuses them).
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_NOT_NAME = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
SHOWN_CHARS = 60  # of a value quoted in a message


def shown(value: str) -> str:
    """A value quoted in a message, cut: an error message never carries a whole huge value."""
    return repr(value) if len(value) <= SHOWN_CHARS else repr(value[:SHOWN_CHARS]) + f"... ({len(value):,} characters)"


def shown_integer(value: int) -> str:
    if value.bit_length() <= 64:
        return str(value)
    return f"an integer of {int(value.bit_length() * 0.30103) + 1:,} digits"  # str() refuses > 4,300 digits


def integer_out_of_range(what: str) -> str:
    return (f"{what} is outside the 64-bit integer range the vendors take ({INT_MIN:,} to {INT_MAX:,}): "
            "send it as a string")


def check_integer(value: int) -> int:
    if INT_MIN <= value <= INT_MAX:
        return value
    raise InvalidValue(integer_out_of_range(shown_integer(value)))


def check_text(text: str, what: str = "the value", *, name: bool = False) -> str:
    """Refuse control characters (in a name or id: any; in a value: all but tab, LF, CR), lone
    surrogates and U+FFFE/U+FFFF: `what` holds ..."""
    if text.isprintable():  # the usual case, at C speed: none of them is printable
        return text
    found = (_NOT_NAME if name else _NOT_TEXT).search(text)
    if found is None:
        return text
    char = found.group()
    at = f"at character {found.start() + 1}"
    if "\ud800" <= char <= "\udfff":
        raise InvalidValue(f"{what} holds a lone surrogate (U+{ord(char):04X}) {at}: not Unicode text; "
                           "a \\uD8xx-\\uDBxx escape must be followed by a \\uDCxx-\\uDFxx one")
    if char in "\ufffe\uffff":
        raise InvalidValue(f"{what} holds U+{ord(char):04X} {at}, which is not a character")
    kind = "names and ids take none" if name else "values take tab, line feed and carriage return only"
    raise InvalidValue(f"{what} holds the control character U+{ord(char):04X} {at} ({kind})")


_UNIX_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UNIX_EPOCH = _UNIX_EPOCH_UTC.replace(tzinfo=None)


def _epoch(seconds: int) -> int:
    if EPOCH_MIN <= seconds <= EPOCH_MAX:
        return seconds
    if EPOCH_MIN <= seconds // 1000 <= EPOCH_MAX:
        raise InvalidValue(
            f"$date {shown_integer(seconds)} is not epoch seconds of years 1 to 9999: it looks like "
            "milliseconds; $date takes seconds (divide by 1000)")
    raise InvalidValue(f"$date {shown_integer(seconds)} is outside years 1 to 9999 "
                       f"(epoch seconds {EPOCH_MIN} to {EPOCH_MAX})")


def parse_date(raw: Any) -> SetDate:
    """ISO-8601 string (naive means UTC) or epoch seconds, within years 1 to 9999 (UTC)."""
    if isinstance(raw, JsonFlaw):
        raise InvalidValue(raw.reason)
    if isinstance(raw, bool):
        raise InvalidValue("$date must be an ISO-8601 string or epoch seconds, not a boolean")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise InvalidValue("$date epoch seconds must be a finite number")
        return SetDate(_epoch(int(raw)))  # a fraction of a second is dropped
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise InvalidValue(f"$date {shown(raw)} is not an ISO-8601 date (e.g. 2016-01-10T10:00:00)") from None
        # = int(parsed.timestamp()), naive read as UTC: the same subtraction, without timestamp()'s
        # tzinfo calls (several times the cost of the rest)
        seconds = (parsed - (_UNIX_EPOCH if parsed.tzinfo is None else _UNIX_EPOCH_UTC)).total_seconds()
        try:
            return SetDate(_epoch(int(seconds)))
        except InvalidValue:  # an offset took it out of years 1 to 9999 (UTC)
            raise InvalidValue(f"$date {shown(raw)} is outside years 1 to 9999 once in UTC") from None
    raise InvalidValue("$date must be an ISO-8601 string or epoch seconds")


def parse_url(raw: Any) -> SetUrl:
    """`scheme://` and a non-empty rest without whitespace, at most MAX_URL_CHARS characters."""
    if isinstance(raw, JsonFlaw):
        raise InvalidValue(raw.reason)
    if not isinstance(raw, str):
        raise InvalidValue("$url must be a string")
    if len(raw) > MAX_URL_CHARS:
        raise InvalidValue(f"$url has {len(raw):,} characters, more than {MAX_URL_CHARS:,}")
    check_text(raw, "$url")
    if not URL_PATTERN.fullmatch(raw):
        raise InvalidValue(f"$url {shown(raw)} is not a URL: a scheme, then ://, then the rest without spaces "
                           "(https://cdn.example.com/a.png, myapp://path)")
    return SetUrl(raw)


def _strings(raw: Any, what: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise InvalidValue(f"{what} must be a list of strings")
    for value in raw:
        if isinstance(value, JsonFlaw):
            raise InvalidValue(value.reason)
        if not isinstance(value, str):
            raise InvalidValue(f"{what} must be a list of strings")
        check_text(value, f"a value of {what}")
    return tuple(raw)


def _number(raw: Any, what: str) -> int | float:
    if isinstance(raw, JsonFlaw):
        raise InvalidValue(raw.reason)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise InvalidValue(f"{what} must be a finite number")
    return check_integer(raw) if isinstance(raw, int) else raw


def parse_operation(raw: Any) -> Operation:
    """One attribute value of the record format -> its operation."""
    if raw is None:
        return REMOVE
    if isinstance(raw, str):
        return SetValue(check_text(raw))
    if isinstance(raw, bool):
        return SetValue(raw)
    if isinstance(raw, int):
        return SetValue(raw if INT_MIN <= raw <= INT_MAX else check_integer(raw))
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidValue("numbers must be finite (a float holds at most about 1.8e308)")
        return SetValue(raw)
    if isinstance(raw, JsonFlaw):
        raise InvalidValue(raw.reason)
    if isinstance(raw, list):
        return ReplaceTags(_strings(raw, "a tag list"))
    if isinstance(raw, dict):
        keys = raw.keys()
        if keys == {"$date"}:
            return parse_date(raw["$date"])
        if keys == {"$url"}:
            return parse_url(raw["$url"])
        if keys == {"$incr"}:
            return Increment(_number(raw["$incr"], "$incr"))
        if keys == {"$decr"}:
            return Increment(_number(raw["$decr"], "$decr"), decrement=True)
        if keys and keys <= {"$add", "$remove"}:
            return EditTags(_strings(raw.get("$add", []), "$add"), _strings(raw.get("$remove", []), "$remove"))
        raise InvalidValue(
            f"unknown object {shown(str(sorted(keys)))}: expected one of $date, $url, $add/$remove, $incr, $decr"
        )
    raise InvalidValue(f"unsupported value type {type(raw).__name__}")


def _operations(raw: Any, max_attributes: int) -> dict[str, Operation]:
    if isinstance(raw, JsonFlaw):
        raise InvalidValue(raw.reason, "attributes")
    if not isinstance(raw, dict):
        raise InvalidValue("attributes must be an object", "attributes")
    if len(raw) > max_attributes:
        raise InvalidValue(f"{len(raw):,} attributes, more than {max_attributes:,} in one record "
                           "(MAX_ATTRIBUTES_PER_RECORD)", "attributes")
    ops = {}
    for name, value in raw.items():
        try:
            if not name:
                raise InvalidValue("attribute names must not be empty")
            check_text(name, "the attribute name", name=True)
            ops[name] = parse_operation(value)
        except InvalidValue as exc:
            raise InvalidValue(str(exc), f"attributes.{name}") from None
    return ops


# --- the two kinds of record ------------------------------------------------------------

class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    destinations: tuple[str, ...] | None = Field(default=None, min_length=1)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes", mode="before")
    @classmethod
    def _parse_attributes(cls, raw: Any, info: ValidationInfo) -> dict[str, Operation]:
        limits = info.context if isinstance(info.context, InputLimits) else DEFAULT_LIMITS
        return _operations(raw, limits.max_attributes_per_record)


class UserChange(_Record):
    """Profile change for one user, sent to Batch Custom Data and CleverTap destinations."""
    kind: Literal["user"] = Field(default="user", exclude=True)
    user_id: str = Field(min_length=1, strict=True)
    overwrite: StrictBool = False


class AudienceChange(_Record):
    """Adds or removes one install id in a Batch Custom Audience."""
    kind: Literal["audience"] = Field(default="audience", exclude=True)
    audience: str = Field(min_length=1, strict=True)
    install_id: str = Field(min_length=1, strict=True)
    action: Literal["add", "remove"]
    tags: tuple[str, ...] = ()


MAX_INSTALL_IDS = 100  # per deletion: a person's installs, each removed from every audience erased from


class UserDeletion(BaseModel):
    """Erase one person everywhere it goes (docs/record-format.md#erasure): the profile at Batch
    Custom Data and CleverTap, and the install ids it names from every audience a Batch Custom
    Audience destination erases from. A deletion carries nothing else: no attributes."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["deletion"] = Field(default="deletion", exclude=True)
    user_id: str = Field(min_length=1, strict=True)
    delete: Literal[True]
    install_ids: tuple[Annotated[str, StringConstraints(min_length=1, strict=True)], ...] = Field(
        (), max_length=MAX_INSTALL_IDS)
    destinations: tuple[str, ...] | None = Field(default=None, min_length=1)


Record = Union[UserChange, AudienceChange, UserDeletion]
_IDS = ("user_id", "audience", "install_id", "action")  # checked as names: no control character at all
_LISTS = {"destinations": True, "tags": False, "install_ids": True}  # list field -> its items are names
_FIELDS = frozenset((*_IDS, *_LISTS, "attributes", "overwrite", "delete"))


class InvalidRecord(ValueError):
    """A record that does not follow the format. `field` names where (dotted path)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


def _check_fields(raw: dict[str, Any]) -> None:
    """What pydantic would misreport: flaws of the JSON and text that is not text, per field."""
    for key, value in raw.items():
        try:
            if key not in _FIELDS:  # an unknown one: pydantic names it, once its name is text
                check_text(key, "the field name", name=True)
            if isinstance(value, JsonFlaw):
                raise InvalidValue(value.reason)
            if isinstance(value, str) and key in _IDS:
                check_text(value, key, name=True)
            elif isinstance(value, list) and key in _LISTS:
                for index, item in enumerate(value):
                    if isinstance(item, JsonFlaw):
                        raise InvalidValue(item.reason, f"{key}.{index}")
                    if isinstance(item, str):
                        try:
                            check_text(item, f"{key}[{index}]", name=_LISTS[key])
                        except InvalidValue as exc:
                            raise InvalidValue(str(exc), f"{key}.{index}") from None
        except InvalidValue as exc:
            raise InvalidRecord(str(exc), exc.field or key) from None


def parse_record(raw: Any, limits: InputLimits = DEFAULT_LIMITS) -> Record:
    """A decoded JSON object -> UserChange, AudienceChange or UserDeletion; InvalidRecord names the field.

    The common well-formed shapes take a fast path (`fast_record`); anything it is not sure of, valid
    or not, takes the diagnostic one (`diagnose_record`), which alone says what is wrong. Both give
    the same record: tests/unit/test_record_fast_path.py checks it on generated records."""
    record = fast_record(raw, limits)
    return diagnose_record(raw, limits) if record is None else record


def diagnose_record(raw: Any, limits: InputLimits = DEFAULT_LIMITS) -> Record:
    """parse_record's diagnostic path: pydantic's validation, every error named with its field."""
    if isinstance(raw, JsonFlaw):
        raise InvalidRecord(raw.reason)
    if not isinstance(raw, dict):
        raise InvalidRecord(f"a record must be a JSON object, got {type(raw).__name__}")
    _check_fields(raw)
    if "user_id" not in raw and "audience" not in raw and "install_id" not in raw:
        found = f"; this object has {shown(', '.join(sorted(raw)))}" if raw else ""
        raise InvalidRecord("required: a user change has a user_id; an audience change has audience, install_id "
                            f"and action{found}", "user_id")
    model = AudienceChange if "audience" in raw or "install_id" in raw else UserDeletion if "delete" in raw \
        else UserChange
    try:
        return model.model_validate(raw, context=limits)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        error = (first.get("ctx") or {}).get("error")
        if isinstance(error, InvalidValue) and error.field:
            loc = error.field  # _operations names the attribute
        if first["type"] == "extra_forbidden":
            message = f"unknown field (allowed: {', '.join(model.model_fields)})".replace("kind, ", "")
            if model is UserChange and loc == "install_ids":
                message = 'install_ids belong to a deletion ("delete": true): a change does not take them'
            if model is UserDeletion and loc in UserChange.model_fields:
                message = "a deletion carries nothing but who to erase: send a change and a deletion as two records"
        elif loc == "delete" and model is UserDeletion:
            message = "delete must be true (this record erases the person); leave it out for a change"
        more = len(exc.errors()) - 1
        raise InvalidRecord(message + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""), loc) from None


# --- the fast path ------------------------------------------------------------------------
# For the common well-formed records: the checks of the diagnostic path, by hand, without pydantic;
# the same frozen models, built as pydantic builds them. It returns None, never raises, on anything
# it is not sure of (an error to name, an unusual value, text that is not plainly printable): the
# diagnostic path then decides, and says why.

_SET_TRUE, _SET_FALSE = SetValue(True), SetValue(False)
_CHANGE_FIELDS = frozenset(("user_id", "attributes", "overwrite", "destinations"))
_AUDIENCE_FIELDS = frozenset(("audience", "install_id", "action", "tags", "attributes", "destinations"))
_DELETION_FIELDS = frozenset(("user_id", "delete", "install_ids", "destinations"))
_ACTIONS = frozenset(("add", "remove"))
_EDIT_KEYS = (frozenset(("$add",)), frozenset(("$remove",)), frozenset(("$add", "$remove")))


def _fast_strings(raw: Any) -> tuple[str, ...] | None:
    """A list of printable strings as a tuple (None: anything else)."""
    if type(raw) is not list:
        return None
    for value in raw:
        if type(value) is not str or not value.isprintable():
            return None
    return tuple(raw)


def _fast_object(raw: dict[str, Any]) -> Operation | None:
    """A `$` object of the record format (None: anything else, or an error to name)."""
    if not raw:
        return None
    try:
        if len(raw) == 1:
            if "$date" in raw:
                return parse_date(raw["$date"])
            if "$url" in raw:
                return parse_url(raw["$url"])
            if "$incr" in raw:
                return Increment(_number(raw["$incr"], "$incr"))
            if "$decr" in raw:
                return Increment(_number(raw["$decr"], "$decr"), decrement=True)
    except InvalidValue:
        return None
    if raw.keys() in _EDIT_KEYS:
        add = _fast_strings(raw.get("$add", []))
        remove = _fast_strings(raw.get("$remove", []))
        return None if add is None or remove is None else EditTags(add, remove)
    return None


_new = object.__new__
_set_value = SetValue.__dict__["value"].__set__  # the slot itself: SetValue(value) without __init__'s setattr


def _fast_operations(raw: Any, limits: InputLimits) -> dict[str, Operation] | None:
    """parse_operation for each attribute, inline for the usual values."""
    if type(raw) is not dict or len(raw) > limits.max_attributes_per_record:
        return None
    ops: dict[str, Operation] = {}
    for name, value in raw.items():
        if not name or not name.isprintable():
            return None
        kind = type(value)
        if kind is str:
            if not value.isprintable():
                return None
        elif kind is int:
            if not INT_MIN <= value <= INT_MAX:
                return None
        elif kind is float:
            if value - value != 0.0:  # inf - inf and nan - nan are nan: not finite
                return None
        elif kind is bool:
            ops[name] = _SET_TRUE if value else _SET_FALSE
            continue
        elif value is None:
            ops[name] = REMOVE
            continue
        else:
            if kind is list:
                values = _fast_strings(value)
                op = None if values is None else ReplaceTags(values)
            elif kind is dict:
                op = _fast_object(value)
            else:
                return None
            if op is None:
                return None
            ops[name] = op
            continue
        op = _new(SetValue)
        _set_value(op, value)
        ops[name] = op
    return ops


def _fast_id(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key)
    return type(value) is str and value != "" and value.isprintable()


def _fast_destinations(raw: dict[str, Any]) -> tuple[str, ...] | None | bool:
    """The destinations (None if absent); False if not plainly valid."""
    if "destinations" not in raw:
        return None
    values = _fast_strings(raw["destinations"])
    return values if values else False


def _built(model: type[BaseModel], values: dict[str, Any], given: set[str]) -> Any:
    """The model as model_validate builds it: its fields in their order, those given marked set."""
    record = _new(model)
    _set_dict(record, values)
    _set_fields_set(record, given)
    _set_extra(record, None)
    _set_private(record, None)
    return record


# BaseModel's slots, set as model_validate sets them (bypassing a frozen model's __setattr__)
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def fast_operation(value: Any) -> Operation | None:
    """One attribute value's operation as the fast path makes it (None: unsure)."""
    ops = _fast_operations({"_": value}, DEFAULT_LIMITS)
    return None if ops is None else ops["_"]


def fast_object(value: dict[str, Any]) -> Operation | None:
    """A `$` object's operation as the fast path makes it (None: unsure)."""
    return _fast_object(value) if type(value) is dict else None


def set_value(value: str | int | float | bool) -> SetValue:
    """SetValue(value) for a value already checked (a printable string, a 64-bit integer, a finite float)."""
    if value is True or value is False:
        return _SET_TRUE if value else _SET_FALSE
    op = _new(SetValue)
    _set_value(op, value)
    return op


def built_change(user_id: str, attributes: dict[str, Operation], overwrite: bool,
                 destinations: tuple[str, ...] | None, given: set[str]) -> UserChange:
    """The UserChange model_validate would make of fields the caller checked as fast_record checks them."""
    return _built(UserChange, {"destinations": destinations, "attributes": attributes, "kind": "user",
                               "user_id": user_id, "overwrite": overwrite}, given)


def fast_record(raw: Any, limits: InputLimits = DEFAULT_LIMITS) -> Record | None:
    """The record of a common well-formed shape, as the diagnostic path would make it; None when
    unsure (the diagnostic path decides)."""
    if type(raw) is not dict:
        return None
    keys = raw.keys()
    if "user_id" in raw:
        if "delete" in raw:
            if not (keys <= _DELETION_FIELDS and raw["delete"] is True and _fast_id(raw, "user_id")):
                return None
            destinations = _fast_destinations(raw)
            ids = _fast_strings(raw.get("install_ids", []))
            if destinations is False or ids is None or len(ids) > MAX_INSTALL_IDS or "" in ids:
                return None
            return _built(UserDeletion, {"kind": "deletion", "user_id": raw["user_id"], "delete": True,
                                         "install_ids": ids, "destinations": destinations}, set(keys))
        if not (keys <= _CHANGE_FIELDS and _fast_id(raw, "user_id")):
            return None
        destinations = _fast_destinations(raw)
        attributes = _fast_operations(raw.get("attributes", {}), limits)
        overwrite = raw.get("overwrite", False)
        if destinations is False or attributes is None or type(overwrite) is not bool:
            return None
        return _built(UserChange, {"destinations": destinations, "attributes": attributes, "kind": "user",
                                   "user_id": raw["user_id"], "overwrite": overwrite}, set(keys))
    if "audience" in raw:
        if not (keys <= _AUDIENCE_FIELDS and _fast_id(raw, "audience") and _fast_id(raw, "install_id")
                and type(raw.get("action")) is str and raw["action"] in _ACTIONS):
            return None
        destinations = _fast_destinations(raw)
        attributes = _fast_operations(raw.get("attributes", {}), limits)
        tags = _fast_strings(raw.get("tags", []))
        if destinations is False or attributes is None or tags is None:
            return None
        return _built(AudienceChange, {"destinations": destinations, "attributes": attributes, "kind": "audience",
                                       "audience": raw["audience"], "install_id": raw["install_id"],
                                       "action": raw["action"], "tags": tags}, set(keys))
    return None


# --- where a record came from -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from, precise enough for a person to find it, and its identity: the unit
    SQS or a chunk job retries as a whole, and the record's position in it, stable across retries."""
    kind: Literal["sqs", "s3"]
    message_id: str | None = None   # sqs: the message; s3: None
    index: int | None = None        # sqs: position of the record in the message body
    bucket: str | None = None
    key: str | None = None
    line: int | None = None         # s3: 1-based line (CSV: line of the row's start), for people
    chunk: str | None = None        # s3: the chunk job that read it: bucket/key@version#index
    ordinal: int | None = None      # s3: 0-based position of the record in its chunk (several may share a line)

    @property
    def unit(self) -> str:
        """The unit SQS or a chunk job retries as a whole: an SQS message, or one chunk of one object
        version. Delivery progress is recorded per unit and destination, so a retry skips what was done."""
        if self.kind == "sqs":
            return f"sqs:{self.message_id}"
        return f"s3:{self.chunk or f'{self.bucket}/{self.key}'}"

    @property
    def position(self) -> int | None:
        """The record's place in its unit: its index in the SQS message, its ordinal in the chunk."""
        return self.index if self.kind == "sqs" else self.ordinal

    def describe(self) -> str:
        if self.kind == "sqs":
            return f"sqs message {self.message_id} record {self.index}"
        return f"s3://{self.bucket}/{self.key} line {self.line}"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (
            ("kind", self.kind), ("message_id", self.message_id), ("index", self.index),
            ("bucket", self.bucket), ("key", self.key), ("line", self.line), ("chunk", self.chunk),
            ("ordinal", self.ordinal),
        ) if v is not None}


@dataclass(frozen=True, slots=True)
class SourcedRecord:
    """A parsed record with the raw JSON it came from (kept for the DLQ) and its source."""
    record: Record
    raw: Any
    source: Source


# The two objects made for every record of a file: built through their slots, as __init__ builds
# them but without a frozen dataclass's object.__setattr__ per field (the same objects, equal, frozen).
_SOURCE_SLOTS = tuple(Source.__dict__[name].__set__ for name in Source.__slots__)
_SOURCED_SLOTS = tuple(SourcedRecord.__dict__[name].__set__ for name in SourcedRecord.__slots__)
assert Source.__slots__ == ("kind", "message_id", "index", "bucket", "key", "line", "chunk", "ordinal")
assert SourcedRecord.__slots__ == ("record", "raw", "source")


def s3_source(bucket: str | None, key: str | None, line: int | None, chunk: str | None, ordinal: int | None) -> Source:
    """Source("s3", bucket=..., key=..., line=..., chunk=..., ordinal=...), faster."""
    source = _new(Source)
    kind, message_id, index, set_bucket, set_key, set_line, set_chunk, set_ordinal = _SOURCE_SLOTS
    kind(source, "s3")
    message_id(source, None)
    index(source, None)
    set_bucket(source, bucket)
    set_key(source, key)
    set_line(source, line)
    set_chunk(source, chunk)
    set_ordinal(source, ordinal)
    return source


def sourced(record: Record, raw: Any, source: Source) -> SourcedRecord:
    """SourcedRecord(record, raw, source), faster."""
    item = _new(SourcedRecord)
    set_record, set_raw, set_source = _SOURCED_SLOTS
    set_record(item, record)
    set_raw(item, raw)
    set_source(item, source)
    return item


@dataclass(frozen=True, slots=True)
class Unparsable:
    """Input that could not become a record: goes to the failed-records queue as is."""
    raw: Any
    source: Source
    reason: str
    field: str | None = None
    code: FailureCode = FailureCode.INVALID_RECORD
