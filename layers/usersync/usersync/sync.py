"""The deliver function's work: SQS messages -> records -> vendors -> tokens, failed records, retries.

Records from all messages of a Lambda batch are delivered together, so calls carry as many
records as the vendors allow. A message is handed back to SQS (partial batch response) only
when one of its records met a failure worth retrying.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from usersync.config import DestinationsConfig, load_config
from usersync.delivery.destination import Destination
from usersync.delivery.pipeline import DeliveryReport, deliver
from usersync.observability import logger, metrics
from usersync.parsing.messages import records_in_message
from usersync.stores.failed_records import FailedRecordQueue
from usersync.stores.tokens import TokenStore
from aws_lambda_powertools.metrics import MetricUnit


class Settings(BaseModel):
    """The function's environment, checked once at cold start."""
    model_config = ConfigDict(frozen=True)
    failed_records_queue_url: str = Field(min_length=1, alias="FAILED_RECORDS_QUEUE_URL")
    state_table: str = Field(min_length=1, alias="STATE_TABLE")
    destinations_config: str = Field(min_length=1, alias="DESTINATIONS_CONFIG")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        try:
            return cls.model_validate(dict(environ))
        except ValidationError as exc:
            missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
            raise RuntimeError(f"usersync is misconfigured: set {missing}") from None


class DeliveryDeferred(Exception):
    """Raised for a message whose records will be retried by SQS."""


@dataclass(slots=True)
class SyncOutcome:
    report: DeliveryReport
    retry_message_ids: set[str]

    def check(self, record: Any) -> None:
        """Powertools BatchProcessor record handler: fail exactly the messages to retry."""
        if record.message_id in self.retry_message_ids:
            reasons = {r.reason for r in self.report.retries if r.item.source.message_id == record.message_id}
            raise DeliveryDeferred("; ".join(sorted(reasons))[:500])


class DestinationsCache:
    """Builds destinations once per config version: clients and pooled sessions live across invocations."""

    def __init__(self, load: Callable[[], DestinationsConfig]):
        self._load, self._config, self._destinations = load, None, {}

    def get(self) -> dict[str, Destination]:
        config = self._load()
        if config != self._config:
            self._config, self._destinations = config, config.build()
        return self._destinations


class Sync:
    def __init__(self, destinations: Callable[[], Mapping[str, Destination]], tokens: TokenStore,
                 failed: FailedRecordQueue):
        self._destinations, self.tokens, self.failed = destinations, tokens, failed

    @classmethod
    def from_environment(cls) -> Sync:
        settings = Settings.from_environment()
        cache = DestinationsCache(lambda: load_config(settings.destinations_config))
        return cls(cache.get, TokenStore(settings.state_table), FailedRecordQueue(settings.failed_records_queue_url))

    def run(self, items: Iterable) -> tuple[DeliveryReport, set[str]]:
        """Deliver parsed items; store tokens and failures. Returns the report and the source
        message ids to retry (their failures are not sent: the retry will meet them again)."""
        report = deliver(items, self._destinations())
        retry_ids = {r.item.source.message_id for r in report.retries}
        for delivery in report.deliveries:
            self.tokens.save(delivery)
        failed = [f for f in report.failed if f.source.message_id not in retry_ids or f.source.message_id is None]
        self.failed.send(failed)
        _count(report, failed)
        return report, retry_ids

    def deliver_messages(self, messages: list[dict[str, Any]]) -> SyncOutcome:
        items = [item for m in messages for item in records_in_message(m["messageId"], m["body"])]
        report, retry_ids = self.run(items)
        logger.info("delivered messages", extra={
            "messages": len(messages), "records": len(items), "delivered": report.delivered,
            "failed_records": len(report.failed), "messages_to_retry": len(retry_ids),
        })
        return SyncOutcome(report, retry_ids)


def _count(report: DeliveryReport, failed: list) -> None:
    metrics.add_metric(name="RecordsDelivered", unit=MetricUnit.Count, value=sum(report.delivered.values()))
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(failed))
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=len(report.retries))
