"""Indexing tokens waiting for the vendor (Batch Custom Audience), in StateTable.

TokenStore.save marks an indexing token PENDING and puts it in the sparse PendingIndexing index;
this store lists them oldest first and records what the vendor says. APPLIED takes the token out
of the index, with `applied_at` and `indexing_seconds` (from the call to the first APPLIED seen,
so to the precision of the follow-up schedule).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3

from usersync.stores.tokens import PENDING, PENDING_ATTRIBUTE, PENDING_INDEXING_INDEX, plain

APPLIED, IN_PROGRESS, ERROR = "APPLIED", "IN_PROGRESS", "ERROR"


@dataclass(frozen=True, slots=True)
class PendingToken:
    pk: str
    sk: str
    destination: str
    token: str
    audience: str
    created_at: datetime

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PendingToken:
        values = plain(item)
        return cls(values["pk"], values["sk"], values["destination"], values["token"], values.get("audience", ""),
                   datetime.fromisoformat(values["created_at"]))


class IndexingTokens:
    def __init__(self, table_name: str, client: Any = None):
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    def pending(self, limit: int = 1000) -> Iterator[PendingToken]:
        """Tokens not yet APPLIED, oldest first."""
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name, IndexName=PENDING_INDEXING_INDEX,
            KeyConditionExpression="#pending = :pending",
            ExpressionAttributeNames={"#pending": PENDING_ATTRIBUTE},
            ExpressionAttributeValues={":pending": {"S": PENDING}},
            PaginationConfig={"MaxItems": limit},
        )
        for page in pages:
            for item in page["Items"]:
                yield PendingToken.from_item(item)

    def record(self, token: PendingToken, state: str, *, now: datetime | None = None,
               error: str | None = None) -> dict[str, Any]:
        """Save what the vendor said; APPLIED (or ERROR: never going to apply) leaves the pending index."""
        now = now or datetime.now(timezone.utc)
        names = {"#state": "indexing_state", "#pending": PENDING_ATTRIBUTE}
        values: dict[str, Any] = {":state": {"S": state}, ":at": {"S": now.isoformat(timespec="milliseconds")},
                                  ":one": {"N": "1"}}
        update = "SET #state = :state, last_checked_at = :at ADD indexing_checks :one"
        if state == APPLIED:
            seconds = max(0.0, (now - token.created_at).total_seconds())
            values[":seconds"] = {"N": f"{seconds:.3f}"}
            update = ("SET #state = :state, last_checked_at = :at, applied_at = :at, indexing_seconds = :seconds "
                      "ADD indexing_checks :one REMOVE #pending")
        elif state == ERROR:
            values[":error"] = {"S": (error or "")[:500]}
            update = "SET #state = :state, last_checked_at = :at, indexing_error = :error ADD indexing_checks :one REMOVE #pending"
        try:
            answer = self._client.update_item(
                TableName=self.table_name, Key={"pk": {"S": token.pk}, "sk": {"S": token.sk}},
                UpdateExpression=update, ConditionExpression="attribute_exists(#pending)",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return {}  # another run recorded it first
        return plain(answer["Attributes"])
