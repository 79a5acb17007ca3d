"""The composition root: one builder per Lambda function, from its settings model to the service
its handler calls. The only place that creates AWS clients, stores and destinations; a handler
calls its builder once, at cold start, and keeps what it returns (pacing learnt from the vendors,
connection pools and cached config live as long as the Lambda instance)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from usersync.config import DestinationsCache, load_config
from usersync.delivery.throttle import Throttles
from usersync.ingest.reports import JobReports
from usersync.settings import (
    DeliverChunkSettings, DeliverSettings, FailedRecordSettings, FollowIndexingSettings, FunctionSettings,
    IngestFileSettings, IngestSettings,
)
from usersync.stores.chunk_queue import ChunkQueue
from usersync.stores.failed_records import FailedRecordQueue, RecordOverflow
from usersync.stores.indexing import IndexingTokens
from usersync.stores.jobs import JobStore
from usersync.stores.ledger import DynamoDBLedger
from usersync.stores.objects import ObjectStore
from usersync.stores.tokens import TokenStore
from usersync.work.deliver import Sync
from usersync.work.deliver_chunk import ChunkRunner
from usersync.work.follow_indexing import IndexingFollowUp
from usersync.work.ingest_file import IDEMPOTENCY_SECONDS, FileIngest


def _destinations(settings: FunctionSettings) -> DestinationsCache:
    return DestinationsCache(lambda: load_config(settings.destinations_config, max_age_s=settings.parameters_max_age_s),
                             settings.vendor_context())


def _reports(settings: IngestSettings, jobs: JobStore, objects: ObjectStore) -> JobReports:
    return JobReports(jobs, objects, prefix=settings.reports_prefix, ingest_prefix=settings.ingest_prefix,
                      failed_records_queue=settings.failed_records_queue_url)


def _failed_records(settings: FunctionSettings, failed: FailedRecordSettings, s3=None) -> FailedRecordQueue:
    """The failed-records queue, and where a record too large for its envelope goes (the ingest bucket)."""
    return FailedRecordQueue(settings.failed_records_queue_url, overflow=RecordOverflow(
        failed.failed_records_bucket, failed.failed_records_prefix, client=s3))


def deliver(settings: DeliverSettings | None = None) -> Sync:
    """DeliverFunction: WorkQueue messages -> vendors, tokens, ledger, failed records."""
    settings = settings or DeliverSettings.from_environment()
    dynamodb = boto3.client("dynamodb")  # one client (and connection pool) for tokens and the ledger
    return Sync(_destinations(settings).get, TokenStore(settings.state_table, client=dynamodb),
                _failed_records(settings, settings),
                ledger=DynamoDBLedger(settings.state_table, client=dynamodb), throttles=Throttles(),
                limits=settings.input_limits())


def deliver_chunk(settings: DeliverChunkSettings | None = None) -> ChunkRunner:
    """DeliverChunkFunction: one chunk job -> vendors; the last chunk of a file writes its report."""
    settings = settings or DeliverChunkSettings.from_environment()
    dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    jobs, objects = JobStore(settings.state_table, client=dynamodb), ObjectStore(client=s3)
    return ChunkRunner(_destinations(settings).get, TokenStore(settings.state_table, client=dynamodb),
                       _failed_records(settings, settings, s3), jobs, objects,
                       _reports(settings, jobs, objects), ledger=DynamoDBLedger(settings.state_table, client=dynamodb),
                       throttles=Throttles(), limits=settings.input_limits())


def ingest_file(settings: IngestFileSettings | None = None) -> FileIngest:
    """IngestFileFunction: S3 notifications -> a job per object version -> chunk jobs."""
    settings = settings or IngestFileSettings.from_environment()
    jobs, objects = JobStore(settings.state_table), ObjectStore()
    idempotency = (DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
                   IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_SECONDS, raise_on_no_idempotency_key=True))
    return FileIngest(settings, objects, jobs, ChunkQueue(settings.chunk_queue_url),
                      _reports(settings, jobs, objects), idempotency)


def follow_indexing(settings: FollowIndexingSettings | None = None) -> IndexingFollowUp:
    """FollowIndexingFunction: pending Batch Custom Audience indexing tokens -> APPLIED."""
    settings = settings or FollowIndexingSettings.from_environment()
    return IndexingFollowUp(_destinations(settings).get, IndexingTokens(settings.state_table))
