"""S3 event notifications, as SQS delivers them, -> the object versions to ingest.

Accepts the records real S3 sends and the leaner ones moto sends (no versionId, sequencer,
userIdentity...: Powertools' strict S3Model refuses those), skips `s3:TestEvent` messages, and
decodes keys (S3 encodes a space as `+` and other characters as %XX).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus


class NotANotification(ValueError):
    """The message body is not an S3 event notification: it is left to the queue's DLQ."""


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """One version of one object: the unit a file job is made for (and deduplicated on)."""
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None

    @property
    def identity(self) -> str:
        """Names this version: its versionId (versioned bucket), else its eTag (content)."""
        if self.version_id:
            return self.version_id
        if self.etag:
            return f"etag-{self.etag}"
        raise NotANotification(f"s3://{self.bucket}/{self.key}: the event has neither versionId nor eTag")

    def idempotency_data(self) -> dict[str, str]:
        """What makes two notifications the same: the same bucket, key and version (or content)."""
        return {"bucket": self.bucket, "key": self.key, "version": self.identity}

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3_event(event: Any) -> bool:
    """An S3 event as S3 sends it to Lambda (not wrapped in an SQS message)."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (isinstance(records, list) and bool(records) and isinstance(records[0], dict)
            and records[0].get("eventSource") == "aws:s3")


def objects_in_message(body: str) -> list[ObjectVersion]:
    """The objects created, from one SQS message body; [] for a test event."""
    try:
        decoded: Any = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise NotANotification(f"the message body is not JSON: {error}") from None
    return objects_in_notification(decoded)


def objects_in_notification(decoded: Any) -> list[ObjectVersion]:
    """The objects created, from an S3 event notification; [] for a test event."""
    if not isinstance(decoded, dict):
        raise NotANotification("the message body is not an S3 event notification")
    if decoded.get("Event") == "s3:TestEvent":
        return []
    records = decoded.get("Records")
    if not isinstance(records, list):
        raise NotANotification("the message body has no Records: not an S3 event notification")
    return [version for version in map(_object_version, records) if version is not None]


def _object_version(record: Any) -> ObjectVersion | None:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        raise NotANotification("a record of the message is not an S3 event")
    if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        return None  # deletions and restores create nothing to ingest
    try:
        s3 = record["s3"]
        bucket, obj = s3["bucket"]["name"], s3["object"]
        key = unquote_plus(obj["key"])
    except (KeyError, TypeError):
        raise NotANotification("an S3 event record without s3.bucket.name or s3.object.key") from None
    size = obj.get("size")
    return ObjectVersion(
        bucket=bucket, key=key, version_id=obj.get("versionId") or None,
        etag=(obj.get("eTag") or "").strip('"') or None,
        size=int(size) if isinstance(size, (int, str)) and str(size).isdigit() else None,
        sequencer=obj.get("sequencer"),
    )
