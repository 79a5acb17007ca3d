"""The delivery ledger in DynamoDB (StateTable): one item per (delivery unit, destination).

    pk = LEDGER#<unit>   sk = DEST#<destination>  (DEST#* for outcomes that hold for every destination)
    accepted      string set of `<batch id>:<positions>` the vendor accepted   (ADD: a repeated write is a no-op)
    tokens        string set of the tokens of the calls that carried the unit
    pending       string set of the same, for calls with increments not answered yet
    settled       string set of the same, for records reported to the failed-records queue
    claim_owner, claim_until   who may send increments of this unit, until when (epoch seconds)
    expires_at    TTL: a unit is retried for at most the queues' retention

An accepted call is one TransactWriteItems: its token item (usersync.stores.tokens) and the accepted
marks of every unit it carried (99 units a transaction, the token item repeated in each), so the
ledger never says accepted without the token being saved. Other writes are one UpdateItem per item;
reads use BatchGetItem. See usersync.delivery.ledger for the meaning.

A destination's calls settle at once, so their writes often meet on one item: DynamoDB refuses a
write that meets a transaction there (TransactionConflict) without applying any of it, and botocore
does not retry that. Every write here is idempotent (set ADD/DELETE, a Put of the same token item),
so a refused one is sent again after a short jittered pause.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from usersync.delivery.ledger import NO_PROGRESS, Entry, Key, Progress, decode_positions, progress_of
from usersync.delivery.outcomes import Delivery
from usersync.stores.erasures import ErasureReceipts
from usersync.stores.tokens import TokenStore

# Longer than a message can live in WorkQueue (4 days) and then WorkDeadLetterQueue (14 days),
# from where `usersync replay` sends it back under its first message id.
KEEP_FOR = timedelta(days=18)
BATCH_GET_KEYS = 100  # DynamoDB's BatchGetItem limit
BATCH_GET_ROUNDS = 8  # rounds for UnprocessedKeys before giving up
TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit
CONFLICT_ATTEMPTS = 6     # a write refused for meeting a transaction on its item: sent again up to here
CONFLICT_PAUSE_S = 0.02   # doubled each time, jittered: at most ~0.6 s in all


def ledger_key(unit: str, destination: str) -> dict[str, Any]:
    return {"pk": {"S": f"LEDGER#{unit}"}, "sk": {"S": f"DEST#{destination}"}}


def _progress(item: dict[str, Any] | None) -> Progress:
    if not item:
        return NO_PROGRESS
    return progress_of(*(item.get(name, {}).get("SS", []) for name in ("accepted", "pending", "settled", "tokens")))


def conflicted(error: ClientError) -> bool:
    """DynamoDB refused the write, none of it applied, because a transaction held one of its items."""
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return True
    reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
    return code == "TransactionCanceledException" and "TransactionConflict" in reasons \
        and reasons <= {"None", "TransactionConflict"}


def written(operation: Callable[..., Any], **request: Any) -> Any:
    """`operation(**request)`, sent again while DynamoDB refuses it for a conflict (see above)."""
    for attempt in range(CONFLICT_ATTEMPTS - 1):
        try:
            return operation(**request)
        except ClientError as error:
            if not conflicted(error):
                raise
        time.sleep(random.uniform(0, CONFLICT_PAUSE_S * 2 ** attempt))
    return operation(**request)  # the last attempt: whatever it raises is the caller's


class DynamoDBLedger:
    def __init__(self, table_name: str, client: Any = None, now=time.time, tokens: TokenStore | None = None,
                 erasures: ErasureReceipts | None = None):
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")
        self._now = now
        self._tokens = tokens or TokenStore(table_name, client=self._client)
        self._erasures = erasures or ErasureReceipts(table_name, self._client)

    def _expires_at(self) -> dict[str, str]:
        return {"N": str(int(self._now() + KEEP_FOR.total_seconds()))}

    def read(self, keys: Iterable[Key]) -> dict[Key, Progress]:
        keys = list(dict.fromkeys(keys))
        found: dict[Key, Progress] = {key: NO_PROGRESS for key in keys}
        by_item = {(f"LEDGER#{unit}", f"DEST#{destination}"): (unit, destination) for unit, destination in keys}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request = {self.table_name: {"Keys": [ledger_key(*key) for key in keys[start:start + BATCH_GET_KEYS]],
                                         "ConsistentRead": True}}
            for _ in range(BATCH_GET_ROUNDS):
                answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    found[by_item[(item["pk"]["S"], item["sk"]["S"])]] = _progress(item)
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the delivery ledger could not be read (DynamoDB kept keys unprocessed)")
        return found

    def claim(self, keys: Iterable[Key], owner: str, until_epoch: float) -> dict[Key, Progress | None]:
        claimed: dict[Key, Progress | None] = {}
        for key in dict.fromkeys(keys):
            try:
                answer = written(
                    self._client.update_item, TableName=self.table_name, Key=ledger_key(*key),
                    UpdateExpression="SET claim_owner = :me, claim_until = :until, expires_at = :expires",
                    ConditionExpression="attribute_not_exists(claim_until) OR claim_until < :now OR claim_owner = :me",
                    ExpressionAttributeValues={
                        ":me": {"S": owner}, ":until": {"N": f"{until_epoch:.3f}"},
                        ":now": {"N": f"{self._now():.3f}"}, ":expires": self._expires_at(),
                    },
                    ReturnValues="ALL_NEW",
                )
                claimed[key] = _progress(answer.get("Attributes"))
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                claimed[key] = None
        return claimed

    def release(self, keys: Iterable[Key], owner: str) -> None:
        for key in dict.fromkeys(keys):
            try:
                written(
                    self._client.update_item, TableName=self.table_name, Key=ledger_key(*key),
                    UpdateExpression="REMOVE claim_owner, claim_until",
                    ConditionExpression="claim_owner = :me",
                    ExpressionAttributeValues={":me": {"S": owner}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def accept(self, accepted: Iterable[Entry], *, resolved: Iterable[Entry], delivery: Delivery,
               erased: Mapping[tuple[str, int], str] | None = None) -> None:
        """One accepted call: its token item, the accepted marks of every unit it carried and, for the
        deletions it completed (`erased`: (unit, position) -> user id), their erasure receipts. A unit's
        marks land with their receipts in one transaction; each transaction repeats the token item."""
        receipt = {"Put": {"TableName": self.table_name, "Item": self._tokens.item(delivery)}}
        erased = erased or {}
        groups: list[tuple[Key, list[dict[str, Any]]]] = []  # (ledger item, what must land with it)
        for key, change in self._changes(accepted=accepted, resolved=resolved).items():
            unit = key[0]
            elements = sorted(change.get("accepted", ()))
            with_receipts = [e for e in elements if any((unit, p) in erased for p in decode_positions(e.partition(":")[2]))]
            plain = {**change, "accepted": set(elements) - set(with_receipts)}
            groups.append((key, [{"Update": self._update_request(key, plain, token=delivery.token)}]))
            for element in with_receipts:  # an entry of deletions: split so each part fits with its receipts
                positions = sorted(decode_positions(element.partition(":")[2]))
                for start in range(0, len(positions), TRANSACTION_ITEMS - 2):
                    part = Entry(unit, key[1], tuple(positions[start:start + TRANSACTION_ITEMS - 2]))
                    receipts = [{"Update": self._erasures.confirmed(erased[(unit, p)], key[1], delivery.token)}
                                for p in part.positions if (unit, p) in erased]
                    mark = self._update_request(key, {"accepted": {part.element}}, token=delivery.token)
                    groups.append((key, [{"Update": mark}, *receipts]))
        for transaction in _packed(groups, TRANSACTION_ITEMS - 1):
            written(self._client.transact_write_items, TransactItems=[receipt, *transaction])

    def update(self, *, pending: Iterable[Entry] = (), resolved: Iterable[Entry] = (),
               settled: Iterable[Entry] = ()) -> None:
        for key, change in self._changes(pending=pending, resolved=resolved, settled=settled).items():
            written(self._client.update_item, **self._update_request(key, change))

    @staticmethod
    def _changes(**kinds: Iterable[Entry]) -> dict[Key, dict[str, set[str]]]:
        changes: dict[Key, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for kind, entries in kinds.items():
            for entry in entries:
                changes[entry.key][kind].add(entry.element)
        return changes

    def _update_request(self, key: Key, change: Mapping[str, set[str]], token: str | None = None) -> dict[str, Any]:
        clauses, values = ["SET expires_at = :expires"], {":expires": self._expires_at()}
        adds = []
        for kind in ("accepted", "pending", "settled"):
            if change.get(kind):
                adds.append(f"{kind} :{kind}")
                values[f":{kind}"] = {"SS": sorted(change[kind])}
        if token and change.get("accepted"):
            adds.append("tokens :tokens")
            values[":tokens"] = {"SS": [token]}
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        if change.get("resolved"):
            clauses.append("DELETE pending :resolved")
            values[":resolved"] = {"SS": sorted(change["resolved"])}
        return {"TableName": self.table_name, "Key": ledger_key(*key), "UpdateExpression": " ".join(clauses),
                "ExpressionAttributeValues": values}


def _packed(groups: list[tuple[Key, list[dict[str, Any]]]], room: int) -> list[list[dict[str, Any]]]:
    """Groups packed into transactions of at most `room` items, no ledger item twice in one (DynamoDB
    refuses two operations on one item in a transaction); at least one, even empty (the token item)."""
    transactions: list[list[dict[str, Any]]] = [[]]
    keys: list[set[Key]] = [set()]
    for key, items in groups:
        if len(transactions[-1]) + len(items) > room or key in keys[-1]:
            transactions.append([])
            keys.append(set())
        transactions[-1].extend(items)
        keys[-1].add(key)
    return transactions
