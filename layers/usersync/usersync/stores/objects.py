"""The ingest bucket: reading files (streamed, or one byte range), writing plain parts of gzip
files under `work/`, and job reports under `reports/`. Neither prefix triggers ingestion."""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import boto3
from aws_lambda_powertools.utilities.streaming import S3Object
from botocore.exceptions import ClientError


class ObjectGone(Exception):
    """The object (or that version of it) no longer exists."""


class ObjectStore:
    def __init__(self, client: Any = None):
        self._client = client or boto3.client("s3")

    def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any]:
        """VersionId (None for an unversioned bucket), ETag and size of the object."""
        try:
            answer = self._client.head_object(Bucket=bucket, Key=key, **_version(version_id))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion", "NotFound"):
                raise ObjectGone(f"s3://{bucket}/{key} (version {version_id or 'latest'}) no longer exists") from None
            raise
        version = answer.get("VersionId")
        return {"version_id": None if version in (None, "null") else version,
                "etag": answer.get("ETag", "").strip('"'), "size": answer.get("ContentLength", 0)}

    def stream(self, bucket: str, key: str, version_id: str | None, *, gzip: bool) -> BinaryIO:
        """The whole content, streamed (decompressed on the fly for gzip): memory stays bounded."""
        return S3Object(bucket=bucket, key=key, version_id=version_id, boto3_client=self._client, is_gzip=gzip)

    def read_range(self, bucket: str, key: str, version_id: str | None, start: int, end: int) -> bytes:
        """Bytes [start, end) in one ranged GET (S3Object's ranges are open-ended: a chunk reads its own)."""
        if end <= start:
            return b""
        try:
            answer = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}",
                                             **_version(version_id))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion"):
                raise ObjectGone(f"s3://{bucket}/{key} no longer exists") from None
            raise
        with answer["Body"] as body:
            data = body.read()
        if len(data) != end - start:
            raise RuntimeError(f"s3://{bucket}/{key}: asked bytes {start}-{end - 1}, got {len(data)} bytes")
        return data

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self._client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        return key

    def put_json(self, bucket: str, key: str, document: Any) -> str:
        body = json.dumps(document, indent=2, ensure_ascii=False, default=str).encode()
        return self.put(bucket, key, body, "application/json")

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self._client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def delete(self, bucket: str, key: str) -> None:
        self._client.delete_object(Bucket=bucket, Key=key)


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}
