"""The file path's settings, from the environment (checked once at cold start)."""

from __future__ import annotations

from pydantic import Field, model_validator

from usersync.environment import FunctionEnvironment
from usersync.ingest.planning import DEFAULT_MAX_CHUNK_BYTES, DEFAULT_ROWS_PER_CHUNK


class IngestSettings(FunctionEnvironment):
    ingest_prefix: str = Field("incoming/", alias="INGEST_PREFIX", description="only keys under it are ingested")
    reports_prefix: str = Field("reports/", alias="REPORTS_PREFIX")
    work_prefix: str = Field("work/", alias="WORK_PREFIX", description="plain parts of gzip files")
    rows_per_chunk: int = Field(DEFAULT_ROWS_PER_CHUNK, ge=1, le=1_000_000, alias="ROWS_PER_CHUNK")
    max_chunk_bytes: int = Field(DEFAULT_MAX_CHUNK_BYTES, ge=1024, le=256 * 1024 * 1024, alias="MAX_CHUNK_BYTES")

    @model_validator(mode="after")
    def _prefixes_do_not_overlap(self) -> IngestSettings:
        prefixes = {self.ingest_prefix, self.reports_prefix, self.work_prefix}
        if len(prefixes) < 3 or any(a != b and b.startswith(a) for a in prefixes for b in prefixes):
            raise ValueError("INGEST_PREFIX, REPORTS_PREFIX and WORK_PREFIX must not overlap "
                             "(what the pipeline writes must never be ingested)")
        return self
