"""The composition root: one builder per Lambda function, from its settings model to the service
its handler calls. The only place that creates AWS clients, stores and destinations; a handler
calls its builder once, at cold start, and keeps what it returns (pacing learnt from the vendors,
connection pools and cached config live as long as the Lambda instance).

Every AWS client of a function, Powertools Parameters' included, comes from one boto3 session
created by its builder, with its credentials resolved there and then, so all of them sign with the
credentials the function had at cold start: its execution role's in Lambda and, locally, where
several functions share one process, each its own (usersync_dev.local.sandbox).

One client per service for the function's lifetime (one connection pool). A client costs 5 to 60 ms
to make: those every invocation uses are made at cold start (the first invocation would only pay
for them instead), the others on first use, since an instance may never need them (the
failed-records queue, the overflow bucket, Secrets Manager)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3

from usersync.observability import logger
from usersync.settings import (
    DeliverChunkSettings, DeliverSettings, FailedRecordSettings, FollowIndexingSettings, FunctionSettings,
    IngestFileSettings, IngestSettings,
)

# Each builder imports what its function alone needs: a cold start loads no other function's code.
if TYPE_CHECKING:
    from usersync.config import DestinationsCache
    from usersync.delivery.service import DeliveryService
    from usersync.ingest.reports import JobReports
    from usersync.stores.jobs import JobStore
    from usersync.stores.objects import ObjectStore
    from usersync.vendors.base import Traffic, VendorContext
    from usersync.work.deliver import Sync
    from usersync.work.deliver_chunk import ChunkRunner
    from usersync.work.follow_indexing import IndexingFollowUp
    from usersync.work.ingest_file import FileIngest


class _Lazy:
    """Stands for what `make()` returns, made on the first use of one of its attributes and kept
    (thread-safe: the delivery pipeline's workers may be the first to use it)."""

    def __init__(self, make: Callable[[], Any]):
        self._make, self._lock, self._made = make, threading.Lock(), None

    def __getattr__(self, name: str) -> Any:
        if name in ("_make", "_lock", "_made"):  # before __init__ (copy, pickle)
            raise AttributeError(name)
        made = self._made
        if made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
                made = self._made
        return getattr(made, name)


class _Aws:
    """A function's boto3 session, created at cold start with the credentials then in the
    environment, and its clients, one per service: `made(service)` makes it now (what every
    invocation uses), `client(service)` stands for it until its first use."""

    def __init__(self):
        self.session = boto3.session.Session()
        self.session.get_credentials()  # resolved now and kept by the session for every client
        self._lock = threading.Lock()  # a boto3 session is not thread-safe
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        return _Lazy(lambda: self.made(service))

    def made(self, service: str) -> Any:
        """The client of `service`, made now if it was not yet."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(service)
            return self._clients[service]


def _ssm_provider(aws: _Aws) -> Any:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=aws.made("ssm"))


def _secrets_provider(aws: _Aws) -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=aws.made("secretsmanager"))


class _Function:
    """One function's AWS session, its Powertools providers and its vendors' context (which says
    what the function delivers: a vendor with a route for each kind of traffic picks by it)."""

    def __init__(self, settings: FunctionSettings, traffic: Traffic | None = None):
        self.settings = settings
        self.aws = _Aws()
        self.ssm = _ssm_provider(self.aws)  # the destinations config: every invocation reads it (cached)
        self.vendors: VendorContext = settings.vendor_context(
            ssm=self.ssm, secrets_manager=_Lazy(lambda: _secrets_provider(self.aws)), traffic=traffic)

    def destinations(self) -> DestinationsCache:
        from usersync.config import DestinationsCache, load_config

        settings = self.settings
        return DestinationsCache(lambda: load_config(settings.destinations_config,
                                                     max_age_s=settings.parameters_max_age_s, ssm=self.ssm),
                                 self.vendors)

    def delivery(self, dynamodb, failed: FailedRecordSettings, s3=None) -> DeliveryService:
        """The delivery service; a record too large for its failed-records envelope goes to S3; erasure
        receipts are kept `failed.erasure_receipt_days`."""
        from usersync.delivery.checkpoints import Checkpoints
        from usersync.delivery.service import DeliveryService
        from usersync.delivery.throttle import Throttles
        from usersync.stores.erasures import ErasureReceipts
        from usersync.stores.failed_records import FailedRecordQueue, RecordOverflow
        from usersync.stores.ledger import DynamoDBLedger

        overflow = RecordOverflow(failed.failed_records_bucket, failed.failed_records_prefix,
                                  client=s3 or self.aws.client("s3"))
        queue = FailedRecordQueue(self.settings.failed_records_queue_url, client=self.aws.client("sqs"),
                                  overflow=overflow)
        erasures = ErasureReceipts(self.settings.state_table, dynamodb, keep_days=failed.erasure_receipt_days)
        ledger = DynamoDBLedger(self.settings.state_table, client=dynamodb, erasures=erasures)
        return DeliveryService(self.destinations().get, queue, ledger, throttles=Throttles(), checkpoints=Checkpoints(),
                               erasures=erasures)


def _reports(settings: IngestSettings, jobs: JobStore, objects: ObjectStore) -> JobReports:
    from usersync.ingest.reports import JobReports

    return JobReports(jobs, objects, prefix=settings.reports_prefix, ingest_prefix=settings.ingest_prefix,
                      failed_records_queue=settings.failed_records_queue_url)


def deliver(settings: DeliverSettings | None = None) -> Sync:
    """DeliverFunction: WorkQueue messages -> vendors, tokens, ledger, failed records."""
    from usersync.replays import ReplayCheck
    from usersync.vendors.base import MESSAGES
    from usersync.work.deliver import Sync

    settings = settings or DeliverSettings.from_environment()
    function = _Function(settings, MESSAGES)
    dynamodb = function.aws.made("dynamodb")  # one client (and connection pool) for tokens and the ledger
    replay_key = _optional(lambda: function.vendors.secrets.resolve(settings.replay_key, what="REPLAY_KEY").reveal())
    return Sync(function.delivery(dynamodb, settings), ReplayCheck(replay_key), limits=settings.input_limits())


def deliver_chunk(settings: DeliverChunkSettings | None = None) -> ChunkRunner:
    """DeliverChunkFunction: one chunk job -> vendors; the last chunk of a file writes its report."""
    from usersync.stores.jobs import JobStore
    from usersync.stores.objects import ObjectStore
    from usersync.vendors.base import FILES
    from usersync.work.deliver_chunk import ChunkRunner

    settings = settings or DeliverChunkSettings.from_environment()
    function = _Function(settings, FILES)
    dynamodb, s3 = function.aws.made("dynamodb"), function.aws.made("s3")  # each chunk is read, then recorded
    jobs, objects = JobStore(settings.state_table, client=dynamodb), ObjectStore(s3)
    return ChunkRunner(function.delivery(dynamodb, settings, s3), jobs, objects, _reports(settings, jobs, objects),
                       max_receives=settings.chunk_max_receives, limits=settings.input_limits())


def ingest_file(settings: IngestFileSettings | None = None) -> FileIngest:
    """IngestFileFunction: S3 notifications -> a job per object version -> chunk jobs."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    from usersync.stores.chunk_queue import ChunkQueue
    from usersync.stores.jobs import JobStore
    from usersync.stores.objects import ObjectStore
    from usersync.work.ingest_file import IDEMPOTENCY_SECONDS, FileIngest

    settings = settings or IngestFileSettings.from_environment()
    aws = _Aws()
    dynamodb = aws.made("dynamodb")  # every file: its job, its idempotency record, its chunk jobs (S3, SQS)
    jobs, objects = JobStore(settings.state_table, client=dynamodb), ObjectStore(aws.made("s3"))
    idempotency = (DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
                   IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_SECONDS, raise_on_no_idempotency_key=True))
    return FileIngest(settings, objects, jobs, ChunkQueue(settings.chunk_queue_url, client=aws.made("sqs")),
                      _reports(settings, jobs, objects), idempotency)


def follow_indexing(settings: FollowIndexingSettings | None = None) -> IndexingFollowUp:
    """FollowIndexingFunction: pending Batch Custom Audience indexing tokens -> APPLIED."""
    from usersync.stores.indexing import IndexingTokens
    from usersync.work.follow_indexing import IndexingFollowUp

    settings = settings or FollowIndexingSettings.from_environment()
    function = _Function(settings)
    return IndexingFollowUp(function.destinations().get,
                            IndexingTokens(settings.state_table, client=function.aws.made("dynamodb")))


def _optional(fetch):
    """`fetch()`, or None when it fails (logged): a replay key that cannot be read verifies nothing."""
    def get():
        try:
            return fetch()
        except Exception as error:  # noqa: BLE001 - an unreadable key must not fail the delivery
            logger.warning("the replay key cannot be read: replayed messages are delivered as new ones",
                           extra={"reason": f"{type(error).__name__}: {error}"})
            return None
    return get
