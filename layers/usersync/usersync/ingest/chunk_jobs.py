"""A chunk job: the chunk queue's message, from the file function (which plans it) to the chunk
function (which delivers it). Where the chunk's bytes are and how to read them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from usersync.stores.jobs import JobRef

DEFAULT_MAX_RECEIVES = 5  # ChunkQueue's maxReceiveCount (template.yaml): a chunk job's attempts


class ChunkJob(BaseModel):
    """The chunk queue's message: where the chunk's bytes are and how to read them."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    bucket: str
    key: str
    job_version: str = Field(description="the job's version identity (versionId or etag-<eTag>)")
    object_version: str | None = Field(None, description="the S3 VersionId to read (None: unversioned)")
    index: int = Field(ge=0)
    of: int = Field(ge=1)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    first_line: int = Field(ge=1)
    rows: int = Field(ge=0)
    part: str | None = Field(None, description="a plain copy of the chunk (gzip files), else the object itself")
    kind: Literal["csv", "jsonl", "json", "oversized"]  # oversized: one record too long, [start, end) its first bytes
    header: list[str] | None = None

    @property
    def ref(self) -> JobRef:
        return JobRef(self.bucket, self.key, self.job_version)

    @property
    def chunk_id(self) -> str:
        return self.ref.chunk_id(self.index)


def chunk_message(job: ChunkJob) -> str:
    return job.model_dump_json(exclude_none=True)
