"""Every token a vendor returns, in DynamoDB: destination, record count, source, time.
Never a secret: the item holds the destination's name, not its keys or URL. The delivery ledger
writes a call's token item together with the call's accepted marks (usersync.stores.ledger)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3

from usersync.delivery.outcomes import Delivery

# Tokens are for support and follow-up, not an archive.
KEEP_FOR = timedelta(days=90)
MAX_SOURCES_KEPT = 20  # a 10,000-record call names its first sources, and counts the rest
# Indexing tokens waiting for the vendor's APPLIED carry this attribute, the key of a sparse index
# (template.yaml: StateTable's PendingIndexing): following them up never scans the table.
PENDING_INDEXING_INDEX = "PendingIndexing"
PENDING_ATTRIBUTE, PENDING = "pending_indexing", "PENDING"


def token_pk(destination: str) -> str:
    return f"TOKEN#{destination}"


class TokenStore:
    def __init__(self, table_name: str, client: Any = None):
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    def item(self, delivery: Delivery, *, now: datetime | None = None) -> dict[str, Any]:
        """The DynamoDB item (low-level form) recording one delivery's token."""
        now = now or datetime.now(timezone.utc)
        created_at = now.isoformat(timespec="milliseconds")
        sources = sorted({item.source.describe() for item in delivery.items})
        item = {
            "pk": {"S": token_pk(delivery.destination)},
            # A call without a token (CleverTap) gets a unique sort key all the same.
            "sk": {"S": f"{created_at}#{delivery.token or '-' + (delivery.call_id or uuid.uuid4().hex)[:12]}"},
            "destination": {"S": delivery.destination},
            "vendor": {"S": delivery.vendor},
            "token_kind": {"S": delivery.token_kind},
            "token": {"S": delivery.token or ""},
            "record_count": {"N": str(len(delivery.items))},
            "sources": {"L": [{"S": s} for s in sources[:MAX_SOURCES_KEPT]]},
            "source_count": {"N": str(len(sources))},
            "created_at": {"S": created_at},
            "expires_at": {"N": str(int((now + KEEP_FOR).timestamp()))},
        }
        for name, value in delivery.context.items():
            item.setdefault(name, {"S": value})
        if delivery.token_kind == "indexing":
            item["indexing_state"] = {"S": "PENDING"}
            item[PENDING_ATTRIBUTE] = {"S": PENDING}
        return item

    def recent(self, destination: str, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first, as plain dicts."""
        answer = self._client.query(
            TableName=self.table_name, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": token_pk(destination)}},
            ScanIndexForward=False, Limit=limit,
        )
        return [plain(item) for item in answer["Items"]]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item in low-level form -> plain Python values."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}
