"""Replaying after a fix: failed records back through the normal pipeline, and poison messages
back to the work queue.

- Failed records (FailedRecordsQueue): each envelope that matches the filter (destination, error
  code, retryable) is re-published to WorkQueue as one record, narrowed to the destination it
  failed for (`destinations: [name]`), so destinations that took it are not sent it again. The
  envelope is deleted only once SQS accepted the new message; one that does not match, or that
  cannot be replayed (a record cut to fit the envelope), stays in the queue. A record too large for
  its envelope was written to S3 (`record_s3`): it is read back from there, and replayed if it fits
  a WorkQueue message.
- Poison messages (WorkDeadLetterQueue: failed 5 receives as a whole) are moved back to WorkQueue
  as they are, with their first message id in the `usersync-original-message-id` attribute, signed
  (usersync.replays) with the replay key, an SSM SecureString parameter created on first use: the
  delivery ledger knows them by that id, so what they delivered before is not sent again.

No vendor is called here: the deliver function does that, with its retries, ledger and DLQ.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from usersync.replays import ORIGINAL_MESSAGE_ID, REPLAY_SIGNATURE, signature

SQS_BATCH = 10
WORK_MESSAGE_MAX_BYTES = 256 * 1024  # WorkQueue's MaximumMessageSize (template.yaml)
# Messages stay hidden this long while one replay goes through the queue; what it leaves is made
# visible again at the end. Longer than any replay of a queue SQS can hold in one go.
HIDE_WHILE_REPLAYING_S = 900
ENVELOPE_VERSION = 1


@dataclass(frozen=True)
class ReplayFilter:
    """Which failed records to replay: all, or those of some destinations / error codes."""
    destinations: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    retryable_only: bool = False

    def matches(self, envelope: dict[str, Any]) -> bool:
        if self.destinations and envelope.get("destination") not in self.destinations:
            return False
        if self.codes and envelope.get("error", {}).get("code") not in self.codes:
            return False
        return envelope.get("retryable", False) or not self.retryable_only


@dataclass
class ReplayStats:
    seen: int = 0
    replayed: int = 0
    left: int = 0                       # did not match the filter: still in the queue
    not_replayable: list[str] = field(default_factory=list)  # why, per envelope left for that reason


class NotReplayable(ValueError):
    pass


RecordReader = Callable[[str, str], bytes]  # (bucket, key) -> the object's content


def s3_record_reader(s3: Any) -> RecordReader:
    return lambda bucket, key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def replay_body(envelope: dict[str, Any], read_object: RecordReader | None = None) -> str:
    """The work-queue message that sends an envelope's record again, to its failed destination only.
    `read_object` reads a record the envelope points to in S3 (`record_s3`)."""
    if envelope.get("version") != ENVELOPE_VERSION:
        raise NotReplayable(f"unknown envelope version {envelope.get('version')!r}")
    record = envelope.get("record")
    if isinstance(envelope.get("record_s3"), dict):
        record = _record_in_s3(envelope["record_s3"], read_object)
    if isinstance(record, dict) and record.get("truncated") is True and "prefix" in record:
        raise NotReplayable("the record was too large to be read or kept whole, and was cut: resend it "
                            "from its source")
    if isinstance(record, str):  # a message body or line that was not a record, kept as it came
        body = record
    else:
        destination = envelope.get("destination")
        if isinstance(record, dict) and destination:
            record = {**record, "destinations": [destination]}
        body = json.dumps(record, ensure_ascii=False)
    if len(body.encode("utf-8", "surrogatepass")) > WORK_MESSAGE_MAX_BYTES:
        raise NotReplayable(f"the record is {len(body.encode('utf-8', 'surrogatepass')):,} bytes, more than a "
                            f"WorkQueue message holds ({WORK_MESSAGE_MAX_BYTES:,}): send it in a file under the "
                            "ingest prefix instead")
    return body


def _record_in_s3(where: dict[str, Any], read_object: RecordReader | None) -> Any:
    bucket, key = where.get("bucket"), where.get("key")
    if read_object is None:
        raise NotReplayable(f"the record is in s3://{bucket}/{key}: replay needs access to S3 to read it")
    try:
        return json.loads(read_object(bucket, key))
    except Exception as error:  # noqa: BLE001 - any failure to read it is a reason to leave the envelope
        raise NotReplayable(f"the record in s3://{bucket}/{key} cannot be read back ({error}): it may "
                            "have expired (the bucket's ExpireFailedRecords rule)") from None


def _drain(sqs: Any, queue_url: str, handle_batch: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Receive every message of the queue once; `handle_batch` returns the messages it did not
    consume, made visible again at the end."""
    kept: list[str] = []
    try:
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=SQS_BATCH, WaitTimeSeconds=0,
                                           VisibilityTimeout=HIDE_WHILE_REPLAYING_S, AttributeNames=["All"],
                                           MessageAttributeNames=["All"]).get("Messages", [])
            if not messages:
                return
            kept.extend(m["ReceiptHandle"] for m in handle_batch(messages))
    finally:
        for start in range(0, len(kept), SQS_BATCH):
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(kept[start:start + SQS_BATCH])])


def _move(sqs: Any, source_url: str, target_url: str, moves: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[dict]:
    """Send each (message, entry) to `target_url`, then delete from `source_url` the messages SQS
    took. Returns the messages left in the source."""
    if not moves:
        return []
    entries = [{**entry, "Id": str(i)} for i, (_, entry) in enumerate(moves)]
    answer = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
    sent = {int(s["Id"]) for s in answer.get("Successful", [])}
    done = [message for i, (message, _) in enumerate(moves) if i in sent]
    if done:
        deleted = sqs.delete_message_batch(QueueUrl=source_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        if deleted.get("Failed"):
            # Sent but not deleted: it will be replayed twice, which the ledger makes harmless.
            raise RuntimeError(f"{len(deleted['Failed'])} replayed messages could not be deleted from the source queue")
    return [message for i, (message, _) in enumerate(moves) if i not in sent]


def replay_failed_records(sqs: Any, failed_queue_url: str, work_queue_url: str, only: ReplayFilter = ReplayFilter(),
                          on_progress: Callable[[int], None] = lambda n: None, dry_run: bool = False,
                          read_object: RecordReader | None = None) -> ReplayStats:
    """`read_object` reads records that envelopes point to in S3 (`s3_record_reader(s3)`)."""
    stats = ReplayStats()

    def handle(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        stats.seen += len(messages)
        left, moves = [], []
        for message in messages:
            try:
                envelope = json.loads(message["Body"])
                if not isinstance(envelope, dict) or not only.matches(envelope):
                    stats.left += 1
                    left.append(message)
                    continue
                body = replay_body(envelope, read_object)
            except (ValueError, NotReplayable) as why:
                stats.not_replayable.append(f"{message['MessageId']}: {why}")
                left.append(message)
                continue
            if dry_run:
                stats.replayed += 1
                left.append(message)
            else:
                moves.append((message, {"MessageBody": body}))
        not_sent = _move(sqs, failed_queue_url, work_queue_url, moves)
        stats.replayed += len(moves) - len(not_sent)
        on_progress(len(messages))
        return left + not_sent

    _drain(sqs, failed_queue_url, handle)
    return stats


def replay_key(ssm: Any, parameter: str) -> str:
    """The key that signs replayed messages: read from its SSM SecureString parameter, created the
    first time (random, 256 bits). Only operators who can read it can make a message count as replayed."""
    try:
        return ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        pass
    try:
        ssm.put_parameter(Name=parameter, Value=secrets.token_hex(32), Type="SecureString", Overwrite=False,
                          Description="usersync: signs the messages `usersync replay --poison` moves back to WorkQueue")
    except ssm.exceptions.ParameterAlreadyExists:  # another replay created it first
        pass
    return ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]


def replay_poison_messages(sqs: Any, dead_letter_queue_url: str, work_queue_url: str, key: str,
                           on_progress: Callable[[int], None] = lambda n: None, dry_run: bool = False) -> ReplayStats:
    stats = ReplayStats()

    def handle(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        stats.seen += len(messages)
        if dry_run:
            stats.replayed += len(messages)
            on_progress(len(messages))
            return messages
        moves = []
        for message in messages:
            attributes = {name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
                          for name, value in message.get("MessageAttributes", {}).items()}
            # A message replayed before keeps its first id (and its signature, made with it).
            original = attributes.get(ORIGINAL_MESSAGE_ID, {}).get("StringValue") or message["MessageId"]
            attributes[ORIGINAL_MESSAGE_ID] = {"DataType": "String", "StringValue": original}
            attributes[REPLAY_SIGNATURE] = {"DataType": "String", "StringValue": signature(key, original, message["Body"])}
            moves.append((message, {"MessageBody": message["Body"], "MessageAttributes": attributes}))
        not_sent = _move(sqs, dead_letter_queue_url, work_queue_url, moves)
        stats.replayed += len(moves) - len(not_sent)
        on_progress(len(messages))
        return not_sent

    _drain(sqs, dead_letter_queue_url, handle)
    return stats


def messages_in(sqs: Any, queue_url: str) -> int:
    """About how many messages a queue holds (for a progress bar's total)."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(value) for value in attributes.values())


def matching_filter(destinations: Collection[str] = (), codes: Collection[str] = (),
                    retryable_only: bool = False) -> ReplayFilter:
    return ReplayFilter(frozenset(destinations), frozenset(c.upper() for c in codes), retryable_only)
