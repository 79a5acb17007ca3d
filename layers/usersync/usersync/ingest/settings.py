"""The file path's settings, from the environment (checked once at cold start)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from usersync.ingest.planning import DEFAULT_MAX_CHUNK_BYTES, DEFAULT_ROWS_PER_CHUNK


class IngestSettings(BaseModel):
    model_config = ConfigDict(frozen=True)
    ingest_prefix: str = Field("incoming/", alias="INGEST_PREFIX", description="only keys under it are ingested")
    reports_prefix: str = Field("reports/", alias="REPORTS_PREFIX")
    work_prefix: str = Field("work/", alias="WORK_PREFIX", description="plain parts of gzip files")
    rows_per_chunk: int = Field(DEFAULT_ROWS_PER_CHUNK, ge=1, le=1_000_000, alias="ROWS_PER_CHUNK")
    max_chunk_bytes: int = Field(DEFAULT_MAX_CHUNK_BYTES, ge=1024, le=256 * 1024 * 1024, alias="MAX_CHUNK_BYTES")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> IngestSettings:
        try:
            settings = cls.model_validate({k: v for k, v in environ.items() if v != ""})
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise RuntimeError(f"usersync is misconfigured: {problems}") from None
        prefixes = {settings.ingest_prefix, settings.reports_prefix, settings.work_prefix}
        if len(prefixes) < 3 or any(a != b and b.startswith(a) for a in prefixes for b in prefixes):
            raise RuntimeError("usersync is misconfigured: INGEST_PREFIX, REPORTS_PREFIX and WORK_PREFIX must not "
                               "overlap (what the pipeline writes must never be ingested)")
        return settings
