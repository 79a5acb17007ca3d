"""SQS message bodies: one record, a JSON array of records, or `{"records": [...]}` (docs/record-format.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from usersync.records import InvalidRecord, Source, SourcedRecord, Unparsable, parse_record
from usersync.failures import FailureCode


def records_in_message(message_id: str, body: str) -> Iterator[SourcedRecord | Unparsable]:
    """Every record of one message body, each parsed on its own so one bad record
    never holds back the others of the same message."""
    try:
        decoded: Any = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        yield Unparsable(body, Source("sqs", message_id), f"message body is not JSON: {exc}", code=FailureCode.INVALID_MESSAGE)
        return
    if isinstance(decoded, dict) and "records" in decoded and len(decoded) == 1:
        decoded = decoded["records"]
        if not isinstance(decoded, list):
            yield Unparsable(body, Source("sqs", message_id), "records must be a JSON array", "records", code=FailureCode.INVALID_MESSAGE)
            return
    items = decoded if isinstance(decoded, list) else [decoded]
    for index, raw in enumerate(items):
        source = Source("sqs", message_id, index=index)
        try:
            yield SourcedRecord(parse_record(raw), raw, source)
        except InvalidRecord as exc:
            yield Unparsable(raw, source, exc.reason, exc.field)
