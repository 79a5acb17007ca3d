"""A CleverTap account as a usersync destination: Upload User Profiles, per-record results."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from usersync.vendors.clevertap.client import DEFAULT_REGION, CleverTapClient, Region
from usersync.vendors.clevertap.mapping import (
    DEFAULT_RECORDS_PER_CALL, MAX_CONCURRENT_CALLS, MAX_RECORDS_PER_CALL, upload_record,
)
from usersync.delivery.destination import LazyClient, pooled_session
from usersync.delivery.outcomes import DRY_RUN, SendResult
from usersync.delivery.settings import DeliverySettings
from usersync.records import UserChange
from usersync.secrets import resolve

UPLOAD = "upload"  # token kind (or DRY_RUN): CleverTap returns no token, the call is recorded


class CleverTapSettings(DeliverySettings):
    """An account's settings, and the delivery settings (rate_per_s, timeout_s, retries)."""
    type: Literal["clevertap"]
    account_id: str = Field(min_length=1, description="the account id (X-CleverTap-Account-Id); not a secret")
    passcode: str = Field(description="reference to the account passcode (see usersync.secrets)")
    region: Region = DEFAULT_REGION
    batch_size: int = Field(DEFAULT_RECORDS_PER_CALL, ge=1, le=MAX_RECORDS_PER_CALL)
    # Per invocation; CleverTap allows MAX_CONCURRENT_CALLS per account in all, so keep
    # concurrency × DeliverMaxConcurrency (instances) within it: 3 × 5 = 15 by default.
    concurrency: int = Field(3, ge=1, le=MAX_CONCURRENT_CALLS)
    dry_run: bool = Field(False, description="send ?dryRun=1: CleverTap validates, writes nothing")

    def build(self, name: str) -> CleverTapDestination:
        return CleverTapDestination(name, self)


class CleverTapDestination:
    vendor: ClassVar[str] = "clevertap"
    record_type: ClassVar[type] = UserChange

    def __init__(self, name: str, settings: CleverTapSettings):
        self.name, self.settings = name, settings
        self.batch_size, self.concurrency = settings.batch_size, settings.concurrency
        self._client = LazyClient(lambda: CleverTapClient(
            settings.account_id, resolve(settings.passcode, what=f"{name}.passcode"), settings.region,
            session=pooled_session(settings.concurrency), timeout_s=settings.timeout_s,
        ))

    def prepare(self, record: UserChange) -> dict[str, Any]:
        return upload_record(record)

    def key(self, record: UserChange) -> str:
        return record.user_id

    def send(self, payloads: list[dict[str, Any]]) -> SendResult:
        answer = self._client.get().upload(payloads, dry_run=self.settings.dry_run)
        return SendResult(token=None, token_kind=DRY_RUN if self.settings.dry_run else UPLOAD,
                          rejected=answer.rejected)
