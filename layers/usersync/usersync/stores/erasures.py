"""Erasure receipts in DynamoDB (StateTable): per person and destination, when the vendor confirmed
the deletion (with its token) or why it could not be done — what a company shows when asked to
prove a person was forgotten (docs/operations.md#erasure).

    pk = ERASURE#<user id>   sk = DEST#<destination>   (DEST#* when it failed for every destination)
    state           CONFIRMED | FAILED
    requested_at    when usersync first handled the deletion (kept from the first write)
    at              when this outcome was recorded
    token           the vendor's token for the call that deleted (Batch), when it gives one
    code, reason    why it failed (a failure code of docs/operations.md and its message)
    expires_at      TTL: receipts are kept `keep_days` (ERASURE_RECEIPT_DAYS), then DynamoDB drops them

A receipt holds nothing about the person but the id needed to find it: no attribute, no install id.
A confirmation is written in the same transaction as the ledger's accepted mark (usersync.stores.ledger);
a failure once the failed-records queue took it (usersync.delivery.service).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

CONFIRMED, FAILED = "CONFIRMED", "FAILED"
DEFAULT_KEEP_DAYS = 3 * 365  # long enough to answer a regulator about any request of the last three years
MAX_REASON_CHARS = 500


def receipt_key(user_id: str, destination: str) -> dict[str, Any]:
    return {"pk": {"S": f"ERASURE#{user_id}"}, "sk": {"S": f"DEST#{destination}"}}


class ErasureReceipts:
    def __init__(self, table_name: str, client: Any, keep_days: int = DEFAULT_KEEP_DAYS):
        self.table_name, self._client, self.keep_days = table_name, client, keep_days

    def _update(self, user_id: str, destination: str, values: dict[str, Any],
                now: datetime | None = None) -> dict[str, Any]:
        """The UpdateItem request (also a TransactWriteItems item) recording one outcome."""
        now = now or datetime.now(timezone.utc)
        stamp = now.isoformat(timespec="milliseconds")
        names = {f"#{name}": name for name in values}
        assignments = ", ".join(f"#{name} = :{name}" for name in values)
        return {
            "TableName": self.table_name, "Key": receipt_key(user_id, destination),
            "UpdateExpression": f"SET {assignments}, destination = :destination, #at = :at, "
                                "requested_at = if_not_exists(requested_at, :at), expires_at = :expires",
            "ExpressionAttributeNames": {**names, "#at": "at"},
            "ExpressionAttributeValues": {
                **{f":{name}": value for name, value in values.items()},
                ":destination": {"S": destination}, ":at": {"S": stamp},
                ":expires": {"N": str(int((now + timedelta(days=self.keep_days)).timestamp()))},
            },
        }

    def confirmed(self, user_id: str, destination: str, token: str | None) -> dict[str, Any]:
        values = {"state": {"S": CONFIRMED}, "token": {"S": token or ""}}
        return self._update(user_id, destination, values)

    def failed(self, user_id: str, destination: str | None, code: str, reason: str) -> None:
        values = {"state": {"S": FAILED}, "code": {"S": code}, "reason": {"S": reason[:MAX_REASON_CHARS]}}
        self._client.update_item(**self._update(user_id, destination or "*", values))

    def of(self, user_id: str) -> list[dict[str, Any]]:
        """Every receipt of one person, by destination (plain values)."""
        answer = self._client.query(TableName=self.table_name, KeyConditionExpression="pk = :pk",
                                    ExpressionAttributeValues={":pk": {"S": f"ERASURE#{user_id}"}},
                                    ConsistentRead=True)
        deserialize = TypeDeserializer().deserialize
        return [{k: deserialize(v) for k, v in item.items()} for item in answer.get("Items", [])]
