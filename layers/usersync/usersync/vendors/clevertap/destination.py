"""A CleverTap account as a usersync destination: Upload User Profiles, per-record results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from usersync.delivery.outcomes import DRY_RUN, RecordRejected, SendResult
from usersync.delivery.settings import DeliverySettings
from usersync.failures import FailureCode
from usersync.records import UserChange, UserDeletion
from usersync.vendors.base import DELETE, ERASURE, Erase, VendorContext, VendorDestination
from usersync.vendors.clevertap.client import DEFAULT_REGION, MAX_DELETES_PER_CALL, CleverTapClient, Region
from usersync.vendors.clevertap.mapping import (
    DEFAULT_RECORDS_PER_CALL, MAX_CONCURRENT_CALLS, MAX_RECORDS_PER_CALL, upload_steps,
)
from usersync.vendors.http import pooled_session

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

    def build(self, name: str, context: VendorContext) -> CleverTapDestination:
        return CleverTapDestination(name, self, lambda: CleverTapClient(
            self.account_id, context.secrets.resolve(self.passcode, what=f"{name}.passcode"), self.region,
            session=pooled_session(self.concurrency), timeout_s=self.timeout_s, base=context.endpoints.clevertap,
        ))


class CleverTapDestination(VendorDestination):
    vendor = "clevertap"
    record_type = (UserChange, UserDeletion)

    def prepare(self, record: UserChange | UserDeletion) -> dict[str, Any] | Erase:
        return self.prepare_steps(record)[0]

    def prepare_steps(self, record: UserChange | UserDeletion) -> list[dict[str, Any] | Erase]:
        if isinstance(record, UserDeletion):
            if self.settings.dry_run:
                raise RecordRejected(FailureCode.UNSUPPORTED_OPERATION,
                                     "a dry-run destination writes nothing: it deletes no profile", "delete")
            return [Erase(record.user_id)]  # /1/delete/profiles.json by identity
        return upload_steps(record)

    @property
    def call_limits(self) -> dict[str, int]:
        return {DELETE: min(self.batch_size, MAX_DELETES_PER_CALL)}

    def send(self, payloads: list[dict[str, Any] | Erase]) -> SendResult:
        if isinstance(payloads[0], Erase):
            refused = self._client.get().delete_profiles([p.key for p in payloads])
            return SendResult(token=None, token_kind=ERASURE, rejected=refused)
        answer = self._client.get().upload(payloads, dry_run=self.settings.dry_run)
        return SendResult(token=None, token_kind=DRY_RUN if self.settings.dry_run else UPLOAD,
                          rejected=answer.rejected)
