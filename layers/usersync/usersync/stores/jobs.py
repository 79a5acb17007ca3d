"""File jobs in DynamoDB (StateTable): one item per object version, counters updated atomically
as chunks finish, and one mark per chunk and destination saying it was delivered there, with
its tokens, so a retried chunk skips what is done.

Items (pk / sk):
  FILE#<bucket>/<key>       / JOB#<version>            the job: state, plan, counters
  CHUNKS#<bucket>/<key>#<v> / <chunk:06d>#<destination> a chunk reached a destination (tokens, counts)
  CHUNKS#<bucket>/<key>#<v> / <chunk:06d>#~rows          the chunk's rows were read and its invalid rows reported
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
from boto3.dynamodb.types import TypeSerializer

from usersync.stores.tokens import plain

KEEP_JOBS_FOR = timedelta(days=90)
KEEP_MARKS_FOR = timedelta(days=30)   # longer than any chunk message can live in SQS (14 days)
ROWS = "~rows"  # the mark of a chunk's own outcome (read, invalid rows); never a destination name

PLANNING, RUNNING, DONE, FAILED = "PLANNING", "RUNNING", "DONE", "FAILED"
_serializer = TypeSerializer()


@dataclass(frozen=True, slots=True)
class JobRef:
    """Which job: one version of one object."""
    bucket: str
    key: str
    version: str   # the object's versionId, or etag-<eTag> for an unversioned bucket

    @property
    def job_id(self) -> str:
        return f"{self.bucket}/{self.key}@{self.version}"

    def chunk_id(self, index: int) -> str:
        """The delivery unit of a chunk (Source.chunk): what is retried, and recorded, as a whole."""
        return f"{self.job_id}#{index}"

    @property
    def pk(self) -> dict[str, Any]:
        return {"pk": {"S": f"FILE#{self.bucket}/{self.key}"}, "sk": {"S": f"JOB#{self.version}"}}

    @property
    def marks_pk(self) -> str:
        return f"CHUNKS#{self.bucket}/{self.key}#{self.version}"


@dataclass(slots=True)
class ChunkMark:
    """What one chunk did at one destination (or, for ROWS, with its rows)."""
    destination: str
    delivered: int = 0
    rejected: int = 0
    read: int = 0                                        # ROWS only: records in the chunk
    codes: dict[str, int] = dataclasses.field(default_factory=dict)
    tokens: list[str] = dataclasses.field(default_factory=list)
    others: dict[str, int] = dataclasses.field(default_factory=dict)  # ROWS: rejected for unknown destinations


def counters(marks: list[ChunkMark]) -> dict[str, int]:
    """The job counters a finished chunk adds (flat attribute names, for UpdateItem ADD)."""
    total: Counter[str] = Counter()
    for mark in marks:
        if mark.destination == ROWS:
            total["n_read"] += mark.read
            total["n_rejected"] += mark.rejected
            for name, count in mark.others.items():
                total[f"rejected:{name}"] += count
        else:
            total[f"delivered:{mark.destination}"] += mark.delivered
            total[f"rejected:{mark.destination}"] += mark.rejected
        for code, count in mark.codes.items():
            total[f"code:{code}"] += count
    return dict(total)


def summary(item: dict[str, Any]) -> dict[str, Any]:
    """A job item (plain values) as users read it, in the report and the CLI."""
    destinations: dict[str, dict[str, int]] = {}
    for name, value in item.items():
        kind, _, destination = name.partition(":")
        if kind in ("delivered", "rejected") and destination:
            destinations.setdefault(destination, {"delivered": 0, "rejected": 0})[kind] = int(value)
    return {
        "bucket": item.get("bucket"), "key": item.get("key"), "version": item.get("version"),
        "state": item.get("state"), "error": item.get("error"),
        "format": item.get("format"), "size": int(item.get("size", 0)),
        "chunks": {"total": int(item.get("chunks_total", 0)), "done": int(item.get("chunks_done", 0))},
        "records": {"read": int(item.get("n_read", 0)), "rejected": int(item.get("n_rejected", 0)),
                    "in_file": int(item.get("rows", 0))},
        # A destination the file's records never targeted (0 delivered, 0 rejected) is left out.
        "destinations": {name: counts for name, counts in sorted(destinations.items()) if any(counts.values())},
        "errors": {name[5:]: int(v) for name, v in sorted(item.items()) if name.startswith("code:")},
        "created_at": item.get("created_at"), "planned_at": item.get("planned_at"),
        "finished_at": item.get("finished_at"), "report": item.get("report_key"),
    }


def _now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(now: datetime | None = None) -> str:
    return (now or _now()).isoformat(timespec="milliseconds")


class JobStore:
    def __init__(self, table_name: str, client: Any = None):
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    # --- the job ------------------------------------------------------------------------------

    def create(self, ref: JobRef, **facts: Any) -> tuple[dict[str, Any], bool]:
        """The job item, created in PLANNING unless it exists; (item, created)."""
        now = _now()
        item = {"bucket": ref.bucket, "key": ref.key, "version": ref.version, "state": PLANNING,
                "created_at": stamp(now), "expires_at": int((now + KEEP_JOBS_FOR).timestamp()),
                **{k: v for k, v in facts.items() if v is not None}}
        try:
            self._client.put_item(TableName=self.table_name, Item={**ref.pk, **_typed(item)},
                                  ConditionExpression="attribute_not_exists(pk)")
            return item, True
        except self._client.exceptions.ConditionalCheckFailedException:
            return self.get(ref), False

    def get(self, ref: JobRef) -> dict[str, Any] | None:
        answer = self._client.get_item(TableName=self.table_name, Key=ref.pk, ConsistentRead=True)
        return plain(answer["Item"]) if "Item" in answer else None

    def jobs_of(self, bucket: str, key: str) -> list[dict[str, Any]]:
        """Every job of one object key (one per version), newest first."""
        answer = self._client.query(
            TableName=self.table_name, KeyConditionExpression="pk = :pk AND begins_with(sk, :job)",
            ExpressionAttributeValues={":pk": {"S": f"FILE#{bucket}/{key}"}, ":job": {"S": "JOB#"}})
        items = [plain(i) for i in answer["Items"]]
        return sorted(items, key=lambda i: i.get("created_at", ""), reverse=True)

    def planned(self, ref: JobRef, *, chunks: int, rows: int, lines: int, content_bytes: int, kind: str) -> None:
        self._update(ref, "SET chunks_total = :c, #rows = :r, #lines = :l, content_bytes = :b, #kind = :k, planned_at = :t",
                     {":c": chunks, ":r": rows, ":l": lines, ":b": content_bytes, ":k": kind, ":t": stamp(_now())},
                     names={"#rows": "rows", "#lines": "lines", "#kind": "kind"})

    def running(self, ref: JobRef) -> bool:
        """PLANNING -> RUNNING once every chunk job is queued; False if chunks already finished it."""
        return self._update(ref, "SET #state = :running", {":running": RUNNING, ":planning": PLANNING},
                            condition="#state = :planning", names={"#state": "state"})

    def fail(self, ref: JobRef, error: str) -> None:
        self._update(ref, "SET #state = :failed, #error = :e, finished_at = :t",
                     {":failed": FAILED, ":e": error[:2000], ":t": stamp(_now())},
                     names={"#state": "state", "#error": "error"})

    def finish(self, ref: JobRef, report_key: str, finished_at: str) -> bool:
        """-> DONE with its report; False if it already was."""
        return self._update(ref, "SET #state = :done, finished_at = :t, report_key = :r",
                            {":done": DONE, ":t": finished_at, ":r": report_key},
                            condition="#state <> :done", names={"#state": "state"})

    def set_report(self, ref: JobRef, report_key: str) -> None:
        self._update(ref, "SET report_key = :r", {":r": report_key})

    # --- chunks ---------------------------------------------------------------------------------

    def chunk_marks(self, ref: JobRef, index: int) -> dict[str, ChunkMark]:
        answer = self._client.query(
            TableName=self.table_name, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :chunk)",
            ExpressionAttributeValues={":pk": {"S": ref.marks_pk}, ":chunk": {"S": f"{index:06d}#"}})
        return {mark.destination: mark for mark in map(_mark, answer["Items"])}

    def all_marks(self, ref: JobRef) -> list[ChunkMark]:
        marks, start = [], None
        while True:
            request = {"TableName": self.table_name, "KeyConditionExpression": "pk = :pk",
                       "ExpressionAttributeValues": {":pk": {"S": ref.marks_pk}}}
            if start:
                request["ExclusiveStartKey"] = start
            answer = self._client.query(**request)
            marks.extend(map(_mark, answer["Items"]))
            start = answer.get("LastEvaluatedKey")
            if not start:
                return marks

    def save_marks(self, ref: JobRef, index: int, marks: list[ChunkMark]) -> None:
        """All marks of one attempt at once (a transaction): a crash leaves none or all."""
        if not marks:
            return
        now = _now()
        items = [{
            "pk": {"S": ref.marks_pk}, "sk": {"S": f"{index:06d}#{mark.destination}"},
            **_typed({"chunk": index, "completed_at": stamp(now),
                      "expires_at": int((now + KEEP_MARKS_FOR).timestamp()), **dataclasses.asdict(mark)}),
        } for mark in marks]
        for start in range(0, len(items), 100):  # the transaction limit
            self._client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table_name, "Item": item}} for item in items[start:start + 100]])

    def complete_chunk(self, ref: JobRef, index: int, added: dict[str, int]) -> dict[str, Any] | None:
        """Count a finished chunk into its job, once: the job item after, or None if it was counted."""
        names = {f"#c{i}": name for i, name in enumerate(added)}
        values: dict[str, Any] = {f":c{i}": count for i, count in enumerate(added.values())}
        request: dict[str, Any] = {
            "TableName": self.table_name, "Key": ref.pk, "ReturnValues": "ALL_NEW",
            "UpdateExpression": "ADD " + ", ".join(["chunks_done :one", "done_chunks :index",
                                                    *(f"#c{i} :c{i}" for i in range(len(added)))]),
            "ConditionExpression": "attribute_exists(pk) AND NOT contains(done_chunks, :n)",
            "ExpressionAttributeValues": _typed({":one": 1, ":n": index, **values}) | {":index": {"NS": [str(index)]}},
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            answer = self._client.update_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return plain(answer["Attributes"])

    # ---------------------------------------------------------------------------------------------

    def _update(self, ref: JobRef, expression: str, values: dict[str, Any], *, condition: str | None = None,
                names: dict[str, str] | None = None) -> bool:
        request: dict[str, Any] = {"TableName": self.table_name, "Key": ref.pk, "UpdateExpression": expression,
                                   "ExpressionAttributeValues": _typed(values)}
        if names:
            request["ExpressionAttributeNames"] = names
        if condition:
            request["ConditionExpression"] = condition
        try:
            self._client.update_item(**request)
            return True
        except self._client.exceptions.ConditionalCheckFailedException:
            return False


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _mark(item: dict[str, Any]) -> ChunkMark:
    values = plain(item)
    return ChunkMark(
        destination=values["destination"], delivered=int(values.get("delivered", 0)),
        rejected=int(values.get("rejected", 0)), read=int(values.get("read", 0)),
        codes={k: int(v) for k, v in (values.get("codes") or {}).items()},
        tokens=list(values.get("tokens") or []), others={k: int(v) for k, v in (values.get("others") or {}).items()},
    )
