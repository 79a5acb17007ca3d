"""Each function's settings, parsed once at cold start from its environment into a pydantic model,
so a misconfigured function fails at start with a message naming every variable at fault.
The only place usersync reads the environment (but for TRACING, which usersync.observability reads
before any handler is decorated); usersync.wiring builds the functions from these."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from usersync.ingest.chunk_jobs import DEFAULT_MAX_RECEIVES
from usersync.ingest.planning import DEFAULT_MAX_CHUNK_BYTES, DEFAULT_ROWS_PER_CHUNK
from usersync.limits import (
    DEFAULT_MAX_ATTRIBUTES_PER_RECORD, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_INFLATION_RATIO, DEFAULT_MAX_NESTING_DEPTH,
    DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_RECORDS_PER_MESSAGE, InputLimits,
)
from usersync.replays import DEFAULT_KEY_PARAMETER
from usersync.secrets import SecretResolver
from usersync.stores.erasures import DEFAULT_KEEP_DAYS

if TYPE_CHECKING:  # Powertools Parameters and the vendors' code are imported when a function asks for them
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    from usersync.vendors.base import Traffic, VendorContext


class EnvironmentSettings(BaseModel):
    """Settings read from environment variables (fields aliased to their names)."""
    model_config = ConfigDict(frozen=True, populate_by_name=True)
    _environ: Mapping[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Self:
        try:
            # An empty variable counts as unset: its field's default applies, or it is reported missing.
            settings = cls.model_validate({name: value for name, value in environ.items() if value != ""})
        except ValidationError as exc:
            problems = "; ".join(
                f"{e['loc'][0]}: {e['msg']}" if e["loc"] else e["msg"].removeprefix("Value error, ")
                for e in exc.errors(include_url=False)
            )
            raise RuntimeError(f"usersync is misconfigured: {problems}") from None
        settings._environ = dict(environ)  # what `env:` secret references read (local runs)
        return settings


class VendorAccessSettings(EnvironmentSettings):
    """How vendors are reached: their base URLs (set only to point at simulators) and how secret
    references resolve. The functions and the local command line share it."""
    batch_api_url: str | None = Field(None, alias="BATCH_API_URL")
    batch_audience_api_url: str | None = Field(None, alias="BATCH_AUDIENCE_API_URL")
    batch_profile_api_url: str | None = Field(None, alias="BATCH_PROFILE_API_URL")
    clevertap_api_url: str | None = Field(None, alias="CLEVERTAP_API_URL")
    # Powertools Parameters' own variable: how long config and secrets are cached (a rotated key
    # is picked up within that time).
    parameters_max_age_s: int = Field(300, ge=0, alias="POWERTOOLS_PARAMETERS_MAX_AGE")
    lambda_function_name: str | None = Field(None, alias="AWS_LAMBDA_FUNCTION_NAME",
                                             description="set by Lambda: secrets must then be ssm: or "
                                                         "secretsmanager: references")

    @property
    def in_lambda(self) -> bool:
        return bool(self.lambda_function_name)

    def vendor_context(self, *, ssm: SSMProvider | None = None, secrets_manager: SecretsProvider | None = None,
                       traffic: Traffic | None = None) -> VendorContext:
        """`ssm`, `secrets_manager`: the function's own Powertools providers (usersync.wiring);
        `traffic`: what the function delivers (messages or files), when it delivers."""
        from usersync.vendors.base import VendorContext, VendorEndpoints

        endpoints = VendorEndpoints(batch=self.batch_api_url, batch_audience=self.batch_audience_api_url,
                                    batch_profile=self.batch_profile_api_url, clevertap=self.clevertap_api_url)
        secrets = SecretResolver(max_age_s=self.parameters_max_age_s, in_lambda=self.in_lambda,
                                 environ=self._environ, ssm=ssm, secrets_manager=secrets_manager)
        return VendorContext(endpoints, secrets, traffic)


class FunctionSettings(VendorAccessSettings):
    """What every function shares: the state table, the destinations config and the failed-records queue."""
    state_table: str = Field(min_length=1, alias="STATE_TABLE")
    destinations_config: str = Field(min_length=1, alias="DESTINATIONS_CONFIG",
                                     description="an SSM parameter name, file:<path> or inline JSON")
    failed_records_queue_url: str = Field(min_length=1, alias="FAILED_RECORDS_QUEUE_URL")


class InputLimitSettings(EnvironmentSettings):
    """How much input the function takes in one piece (usersync.limits; docs/files.md#limits)."""
    max_record_bytes: int = Field(DEFAULT_MAX_RECORD_BYTES, ge=1024, le=64 * 1024 * 1024, alias="MAX_RECORD_BYTES")
    max_records_per_message: int = Field(DEFAULT_MAX_RECORDS_PER_MESSAGE, ge=1, le=100_000,
                                         alias="MAX_RECORDS_PER_MESSAGE")
    max_attributes_per_record: int = Field(DEFAULT_MAX_ATTRIBUTES_PER_RECORD, ge=1, le=100_000,
                                           alias="MAX_ATTRIBUTES_PER_RECORD")
    max_nesting_depth: int = Field(DEFAULT_MAX_NESTING_DEPTH, ge=4, le=256, alias="MAX_NESTING_DEPTH",
                                   description="a record needs 4; the recursion limit is about 1,000")
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, ge=1024, alias="MAX_FILE_BYTES")
    max_inflation_ratio: int = Field(DEFAULT_MAX_INFLATION_RATIO, ge=1, alias="MAX_INFLATION_RATIO")

    def input_limits(self) -> InputLimits:
        return InputLimits(
            max_record_bytes=self.max_record_bytes, max_records_per_message=self.max_records_per_message,
            max_attributes_per_record=self.max_attributes_per_record, max_nesting_depth=self.max_nesting_depth,
            max_file_bytes=self.max_file_bytes, max_inflation_ratio=self.max_inflation_ratio)


class FailedRecordSettings(EnvironmentSettings):
    """What the delivering functions keep besides deliveries: where a record too large for its
    failed-records envelope is written (the envelope points to it: the ingest bucket, under a prefix
    that never triggers ingestion and expires, template.yaml), and how long erasure receipts are kept."""
    failed_records_bucket: str = Field(min_length=1, alias="FAILED_RECORDS_BUCKET")
    failed_records_prefix: str = Field("failed-records/", pattern=r"^[^/].*/$", alias="FAILED_RECORDS_PREFIX")
    erasure_receipt_days: int = Field(DEFAULT_KEEP_DAYS, ge=1, le=10 * 365, alias="ERASURE_RECEIPT_DAYS",
                                      description="how long an erasure receipt is kept (DynamoDB TTL)")


class DeliverSettings(FunctionSettings, InputLimitSettings, FailedRecordSettings):
    """DeliverFunction: WorkQueue messages -> vendors."""
    replay_key: str = Field(f"ssm:{DEFAULT_KEY_PARAMETER}", alias="REPLAY_KEY",
                            description="secret reference of the key that signs replayed messages")


class FollowIndexingSettings(FunctionSettings):
    """FollowIndexingFunction: pending Batch Custom Audience indexing tokens -> APPLIED."""


class IngestSettings(FunctionSettings, InputLimitSettings):
    """What both file functions share: where files arrive and what the pipeline writes beside them."""
    ingest_prefix: str = Field("incoming/", alias="INGEST_PREFIX", description="only keys under it are ingested")
    reports_prefix: str = Field("reports/", alias="REPORTS_PREFIX")
    work_prefix: str = Field("work/", alias="WORK_PREFIX", description="plain parts of gzip files")

    @model_validator(mode="after")
    def _prefixes_do_not_overlap(self) -> Self:
        prefixes = {self.ingest_prefix, self.reports_prefix, self.work_prefix}
        if len(prefixes) < 3 or any(a != b and b.startswith(a) for a in prefixes for b in prefixes):
            raise ValueError("INGEST_PREFIX, REPORTS_PREFIX and WORK_PREFIX must not overlap "
                             "(what the pipeline writes must never be ingested)")
        return self


class IngestFileSettings(IngestSettings):
    """IngestFileFunction: S3 notifications -> one streaming pass -> chunk jobs."""
    chunk_queue_url: str = Field(min_length=1, alias="CHUNK_QUEUE_URL")
    idempotency_table: str = Field(min_length=1, alias="IDEMPOTENCY_TABLE")
    rows_per_chunk: int = Field(DEFAULT_ROWS_PER_CHUNK, ge=1, le=1_000_000, alias="ROWS_PER_CHUNK")
    max_chunk_bytes: int = Field(DEFAULT_MAX_CHUNK_BYTES, ge=1024, le=256 * 1024 * 1024, alias="MAX_CHUNK_BYTES")


class DeliverChunkSettings(IngestSettings, FailedRecordSettings):
    """DeliverChunkFunction: one chunk job -> vendors; the last chunk writes the report."""
    chunk_max_receives: int = Field(DEFAULT_MAX_RECEIVES, ge=1, le=1000, alias="CHUNK_MAX_RECEIVES",
                                    description="ChunkQueue's maxReceiveCount: the last attempt gives up")

    @model_validator(mode="after")
    def _failed_records_are_not_ingested(self) -> Self:
        if self.failed_records_prefix.startswith(self.ingest_prefix) or self.ingest_prefix.startswith(
                self.failed_records_prefix):
            raise ValueError("INGEST_PREFIX and FAILED_RECORDS_PREFIX must not overlap "
                             "(a failed record written back must never be ingested)")
        return self
