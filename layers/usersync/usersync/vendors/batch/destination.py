"""A Batch app (one per platform) as a usersync destination: Custom Data bulk updates."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from usersync.delivery.outcomes import SendResult
from usersync.delivery.settings import DeliverySettings
from usersync.records import UserChange, UserDeletion
from usersync.vendors.base import ERASURE, Erase, VendorContext, VendorDestination
from usersync.vendors.batch.client import BatchApi, BatchCustomDataClient
from usersync.vendors.batch.mapping import MAX_BULK_USERS, bulk_element
from usersync.vendors.http import pooled_session


class BatchAppSettings(DeliverySettings):
    """Settings shared by the Batch destinations: an app's API key and the company REST key,
    both as secret references (see usersync.secrets), and the delivery settings (concurrency,
    rate_per_s, timeout_s, retries)."""

    api_key: str = Field(description="reference to the app's API key (Live/Dev/SDK), one app per platform")
    rest_key: str = Field(description="reference to the company REST API key")

    def client(self, name: str, client_type: type[BatchApi], context: VendorContext, base: str | None):
        """A factory of the app's client: its keys are fetched when there is something to send."""
        return lambda: client_type(
            context.secrets.resolve(self.api_key, what=f"{name}.api_key"),
            context.secrets.resolve(self.rest_key, what=f"{name}.rest_key"),
            session=pooled_session(self.concurrency), timeout_s=self.timeout_s, base=base,
        )


class BatchSettings(BatchAppSettings):
    type: Literal["batch"]
    batch_size: int = Field(MAX_BULK_USERS, ge=1, le=MAX_BULK_USERS)

    def build(self, name: str, context: VendorContext) -> BatchCustomDataDestination:
        return BatchCustomDataDestination(
            name, self, self.client(name, BatchCustomDataClient, context, context.endpoints.batch))


class BatchCustomDataDestination(VendorDestination):
    vendor = "batch"
    record_type = (UserChange, UserDeletion)

    def prepare(self, record: UserChange | UserDeletion) -> dict[str, Any] | Erase:
        if isinstance(record, UserDeletion):
            return Erase(record.user_id)  # DELETE .../data/users: the user's custom data is gone
        return bulk_element(record)

    def send(self, payloads: list[dict[str, Any] | Erase]) -> SendResult:
        if isinstance(payloads[0], Erase):
            return SendResult(token=self._client.get().bulk_delete([p.key for p in payloads]), token_kind=ERASURE)
        return SendResult(token=self._client.get().bulk_update(payloads))
