"""SQS message bodies: one record, a JSON array of records, or `{"records": [...]}` (docs/record-format.md).

Each element of an array is decoded on its own (usersync.parsing.strict_json), so a flaw in one
record (a duplicate key, NaN, a huge integer, too deep a nesting) rejects that record alone. Only
a body that is not JSON at all, or holds too many records, fails as a whole (INVALID_MESSAGE).
"""

from __future__ import annotations

import re
from typing import Any

from usersync.failures import FailureCode
from usersync.limits import DEFAULT_LIMITS, InputLimits
from usersync.parsing.strict_json import Decoded, JsonSyntaxError, StrictJson, skip_space
from usersync.records import InvalidRecord, JsonFlaw, Source, SourcedRecord, Unparsable, parse_record, sourced


def records_in_message(message_id: str, body: str, limits: InputLimits = DEFAULT_LIMITS,
                       ) -> list[SourcedRecord | Unparsable]:
    """Every record of one message body, each parsed on its own so one bad record never holds
    back the others of the same message. Never raises for what the body holds."""
    reader = StrictJson(limits.max_nesting_depth)
    whole = Source("sqs", message_id)
    try:
        elements = _elements(reader, body)
    except JsonSyntaxError as error:
        return [Unparsable(body, whole, f"message body is not JSON: {error.message} (character {error.position})",
                           code=FailureCode.INVALID_MESSAGE)]
    except _NotAList:
        return [Unparsable(body, whole, "records must be a JSON array", "records", code=FailureCode.INVALID_MESSAGE)]
    if len(elements) > limits.max_records_per_message:
        return [Unparsable(body, whole, f"the message holds {len(elements):,} records, more than "
                           f"{limits.max_records_per_message:,} (MAX_RECORDS_PER_MESSAGE): split it, or send a file",
                           code=FailureCode.INVALID_MESSAGE)]
    items: list[SourcedRecord | Unparsable] = []
    for index, (text, decoded) in enumerate(elements):
        source = Source("sqs", message_id, index=index)
        # A record holding a flaw is shown as it was written; `json` could not keep it as a value.
        raw = text if decoded.flawed else decoded.value
        try:
            items.append(sourced(parse_record(decoded.value, limits), raw, source))
        except InvalidRecord as exc:
            items.append(Unparsable(raw, source, exc.reason, exc.field))
    return items


class _NotAList(ValueError):
    pass


def _elements(reader: StrictJson, body: str) -> list[tuple[Any, Decoded]]:
    """(as written, decoded) for each record of the body."""
    wrapper = _RECORDS_WRAPPER.match(body)
    start = skip_space(body, 0)
    if wrapper or body.startswith("[", start):
        opening = wrapper.end() if wrapper else start
        spans = list(reader.elements(body, opening + 1))
        closing = skip_space(body, spans[-1][1] if spans else opening + 1)
        if (_WRAPPER_END if wrapper else _ARRAY_END).fullmatch(body, closing):
            return [(body[a:b], decoded) for a, b, decoded in spans]
        if not wrapper:
            raise JsonSyntaxError("the array is not closed" if closing == len(body) else "Extra data", closing)
        # {"records": [...], "other": ...} is not the wrapper: one object, a record or not.
    decoded = reader.decode(body)
    value = decoded.value
    if isinstance(value, dict) and value.keys() == {"records"}:
        if isinstance(value["records"], list):  # the wrapper, spelt so the pattern missed it
            return [(element, Decoded(element, decoded.flawed)) for element in value["records"]]
        if not isinstance(value["records"], JsonFlaw):
            raise _NotAList()
    return [(body, decoded)]


_RECORDS_WRAPPER = re.compile(r'[ \t\n\r]*\{[ \t\n\r]*"records"[ \t\n\r]*:[ \t\n\r]*(?=\[)')
_WRAPPER_END = re.compile(r"\][ \t\n\r]*\}[ \t\n\r]*")
_ARRAY_END = re.compile(r"\][ \t\n\r]*")
