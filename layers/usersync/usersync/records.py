"""The record: one user change as users write it (docs/record-format.md), parsed into typed operations.

Vendor-neutral on purpose: what each vendor can or cannot apply is decided by its
mapping module, so one record can reach several vendors with per-destination outcomes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from usersync.failures import FailureCode


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
    """A value that does not follow the record format; the message says what is expected."""


def parse_date(raw: Any) -> SetDate:
    """ISO-8601 string (naive means UTC) or epoch seconds."""
    if isinstance(raw, bool):
        raise InvalidValue("$date must be an ISO-8601 string or epoch seconds, not a boolean")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise InvalidValue("$date epoch seconds must be a finite number")
        return SetDate(int(raw))
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise InvalidValue(f"$date {raw!r} is not an ISO-8601 date (e.g. 2016-01-10T10:00:00)") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return SetDate(int(parsed.timestamp()))
    raise InvalidValue("$date must be an ISO-8601 string or epoch seconds")


def _strings(raw: Any, what: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise InvalidValue(f"{what} must be a list of strings")
    return tuple(raw)


def _number(raw: Any, what: str) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise InvalidValue(f"{what} must be a number")
    return raw


def parse_operation(raw: Any) -> Operation:
    """One attribute value of the record format -> its operation."""
    if raw is None:
        return REMOVE
    if isinstance(raw, (bool, int, str)):
        return SetValue(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidValue("numbers must be finite")
        return SetValue(raw)
    if isinstance(raw, list):
        return ReplaceTags(_strings(raw, "a tag list"))
    if isinstance(raw, dict):
        keys = raw.keys()
        if keys == {"$date"}:
            return parse_date(raw["$date"])
        if keys == {"$url"}:
            if not isinstance(raw["$url"], str):
                raise InvalidValue("$url must be a string")
            return SetUrl(raw["$url"])
        if keys == {"$incr"}:
            return Increment(_number(raw["$incr"], "$incr"))
        if keys == {"$decr"}:
            return Increment(_number(raw["$decr"], "$decr"), decrement=True)
        if keys and keys <= {"$add", "$remove"}:
            return EditTags(_strings(raw.get("$add", []), "$add"), _strings(raw.get("$remove", []), "$remove"))
        raise InvalidValue(
            f"unknown object {sorted(keys)}: expected one of $date, $url, $add/$remove, $incr, $decr"
        )
    raise InvalidValue(f"unsupported value type {type(raw).__name__}")


def _operations(raw: Any) -> dict[str, Operation]:
    if not isinstance(raw, dict):
        raise InvalidValue("attributes must be an object")
    ops = {}
    for name, value in raw.items():
        if not name:
            raise InvalidValue("attribute names must not be empty")
        try:
            ops[name] = parse_operation(value)
        except InvalidValue as exc:
            raise InvalidValue(f"{name}: {exc}") from None
    return ops


# --- the two kinds of record ------------------------------------------------------------

class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    destinations: tuple[str, ...] | None = Field(default=None, min_length=1)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes", mode="before")
    @classmethod
    def _parse_attributes(cls, raw: Any) -> dict[str, Operation]:
        return _operations(raw)


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


Record = Union[UserChange, AudienceChange]


class InvalidRecord(ValueError):
    """A record that does not follow the format. `field` names where (dotted path)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


def parse_record(raw: Any) -> Record:
    """A decoded JSON object -> UserChange or AudienceChange; InvalidRecord names the field."""
    if not isinstance(raw, dict):
        raise InvalidRecord(f"a record must be a JSON object, got {type(raw).__name__}")
    model = AudienceChange if "audience" in raw or "install_id" in raw else UserChange
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "value_error" and ": " in message and loc == "attributes":
            # _operations prefixes the attribute name: surface it in the field path.
            name, message = message.split(": ", 1)
            loc = f"attributes.{name}"
        if first["type"] == "extra_forbidden":
            message = f"unknown field (allowed: {', '.join(model.model_fields)})".replace("kind, ", "")
        more = len(exc.errors()) - 1
        raise InvalidRecord(message + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""), loc) from None


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


@dataclass(frozen=True, slots=True)
class Unparsable:
    """Input that could not become a record: goes to the failed-records queue as is."""
    raw: Any
    source: Source
    reason: str
    field: str | None = None
    code: FailureCode = FailureCode.INVALID_RECORD
