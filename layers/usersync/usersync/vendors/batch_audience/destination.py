"""A Batch app's Custom Audiences as a usersync destination: PATCH ids, follow indexing tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from usersync.delivery.batching import chunks
from usersync.delivery.outcomes import SendResult
from usersync.delivery.plan import Part
from usersync.records import AudienceChange, Record, UserDeletion
from usersync.vendors.base import VendorContext, VendorDestination
from usersync.vendors.batch.destination import BatchAppSettings
from usersync.vendors.batch_audience.client import BatchAudienceClient
from usersync.vendors.batch_audience.mapping import (
    AUDIENCE_NAME_PATTERN, MAX_IDS_PER_CALL, AudiencePatch, last_action_per_id, patch_element,
)

INDEXING = "indexing"  # token kind: followed up until Batch says APPLIED


AudienceName = Annotated[str, StringConstraints(pattern=f"^{AUDIENCE_NAME_PATTERN.pattern}$")]


class BatchAudienceSettings(BatchAppSettings):
    type: Literal["batch_audience"]
    batch_size: int = Field(MAX_IDS_PER_CALL, ge=1, le=MAX_IDS_PER_CALL, description="install ids per PATCH")
    erase_from: tuple[AudienceName, ...] = Field(
        (), description="the audiences a deletion's install ids are removed from (none: deletions pass it by)")

    def build(self, name: str, context: VendorContext) -> BatchAudienceDestination:
        base = context.endpoints.batch_audience or context.endpoints.batch
        return BatchAudienceDestination(name, self, self.client(name, BatchAudienceClient, context, base))


def plan_audience_calls(parts: Sequence[Part], batch_size: int) -> list[list[list[Part]]]:
    """One wave of calls: each call one audience and at most `batch_size` distinct ids, every change
    of one id in the same call (where Batch applies its last action). Calls never share an id, so
    they may run at once: sum over audiences of ceil(distinct ids / batch_size) calls, the minimum."""
    by_audience: dict[str, dict[str, list[int]]] = {}
    for position, item in enumerate(parts):
        by_audience.setdefault(item.payload.audience, {}).setdefault(item.key, []).append(position)
    calls = [
        [parts[position] for position in sorted(p for positions in group for p in positions)]
        for ids in by_audience.values() for group in chunks(list(ids.values()), batch_size)
    ]
    return [calls] if calls else []


class BatchAudienceDestination(VendorDestination):
    vendor = "batch_audience"
    record_type = AudienceChange

    def takes(self, record: Record) -> bool:
        """Audience changes, and the deletions naming install ids once audiences to erase from are set."""
        if isinstance(record, UserDeletion):
            return bool(record.install_ids and self.settings.erase_from)
        return isinstance(record, AudienceChange)

    def prepare(self, record: AudienceChange) -> AudiencePatch:
        return patch_element(record)

    def prepare_steps(self, record: AudienceChange | UserDeletion) -> list[AudiencePatch]:
        if isinstance(record, UserDeletion):  # each install id out of each audience erased from
            return [AudiencePatch(audience, {"action": "remove", "id": install_id})
                    for audience in self.settings.erase_from for install_id in record.install_ids]
        return [patch_element(record)]

    def key(self, record: AudienceChange) -> str:
        return record.install_id

    def part_key(self, record: AudienceChange | UserDeletion, payload: AudiencePatch) -> str:
        return payload.install_id

    plan_calls = staticmethod(plan_audience_calls)

    def send(self, payloads: list[AudiencePatch]) -> SendResult:
        audiences = {p.audience for p in payloads}
        if len(audiences) != 1:
            raise ValueError(f"one audience per call, got {sorted(audiences)}: plan calls with plan_audience_calls")
        (audience,) = audiences
        token = self._client.get().update(audience, last_action_per_id([p.element for p in payloads]))
        return SendResult(token=token, token_kind=INDEXING, context={"audience": audience})

    def indexing_state(self, audience: str, token: str) -> str:
        """IN_PROGRESS or APPLIED, from Batch."""
        return self._client.get().indexing_state(audience, token)
