"""A Batch project as a usersync destination: profiles written with the Profile API.

Which route: `endpoint` "update" (up to 200 profiles a call, 300 a second, bursts to 1,000: live
streams) or "mass_update" (up to 10,000 a call, 10,000 a second, processed asynchronously: large
imports). "auto" lets the function decide: SQS messages go to update, files to mass_update.

Pacing: Batch meters profiles per second per project, so calls draw one token per profile from a
bucket shared by the destinations of one project and route in a Lambda instance. By default each
instance takes a fifth of Batch's rate and burst, the template running at most five instances of
each delivering function (DeliverMaxConcurrency, ChunkMaxConcurrency): keep
`profiles_per_s` × that maximum within Batch's rate (docs/destinations.md).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from usersync.delivery.outcomes import RecordRejected, SendResult
from usersync.delivery.settings import DeliverySettings
from usersync.delivery.throttle import RecordPacing
from usersync.failures import FailureCode
from usersync.records import UserChange, UserDeletion
from usersync.vendors.base import FILES, Traffic, VendorContext, VendorDestination
from usersync.vendors.batch_profile.client import (
    ENDPOINTS, MASS_UPDATE, RATE_LIMITED_WAIT_S, UPDATE, BatchProfileClient, Endpoint,
)
from usersync.vendors.batch_profile.mapping import profile_update
from usersync.vendors.http import pooled_session

EndpointChoice = Literal["auto", "update", "mass_update"]
AUTO = "auto"
# template.yaml's default DeliverMaxConcurrency and ChunkMaxConcurrency: instances sharing Batch's rate.
DEFAULT_INSTANCES = 5


def endpoint_for(choice: str, traffic: Traffic | None) -> Endpoint:
    """The route a destination uses: the one it names, or for "auto" mass_update for files and
    update for anything else (messages, or a caller that does not say)."""
    if choice == AUTO:
        return MASS_UPDATE if traffic == FILES else UPDATE
    return ENDPOINTS[choice]


class BatchProfileSettings(DeliverySettings):
    """A project's settings, and the delivery settings (concurrency, rate_per_s, timeout_s, retries)."""
    type: Literal["batch_profile"]
    project_key: str = Field(min_length=1, description="the project key (X-Batch-Project); not a secret")
    rest_key: str = Field(description="reference to the company REST API key (Authorization: Bearer)")
    endpoint: EndpointChoice = Field(AUTO, description="update, mass_update, or auto: update for SQS messages, "
                                                       "mass_update for files")
    batch_size: int | None = Field(None, ge=1, le=MASS_UPDATE.max_profiles,
                                   description="profiles per call; default and ceiling: the endpoint's limit")
    profiles_per_s: float | None = Field(None, gt=0, le=MASS_UPDATE.profiles_per_s,
                                         description="profiles sent per second per Lambda instance; default: the "
                                                     f"endpoint's rate / {DEFAULT_INSTANCES}, ceiling: its rate")
    profiles_burst: int | None = Field(None, ge=1, le=MASS_UPDATE.burst,
                                       description="profiles that may go at once before the rate applies; default: "
                                                   f"the endpoint's burst / {DEFAULT_INSTANCES}, ceiling: its burst")
    rate_limited_wait_s: float = Field(RATE_LIMITED_WAIT_S, ge=0, le=60,
                                       description="wait after a 429 that gives no Retry-After (Batch: \"wait a "
                                                   "few seconds before retrying\")")

    @model_validator(mode="after")
    def _within_the_named_endpoint(self) -> Self:
        if self.endpoint != AUTO:
            endpoint = ENDPOINTS[self.endpoint]
            for setting, limit in (("batch_size", endpoint.max_profiles), ("profiles_per_s", endpoint.profiles_per_s),
                                   ("profiles_burst", endpoint.burst)):
                if (getattr(self, setting) or 0) > limit:
                    raise ValueError(f"{setting} is at most {limit} on Batch's profiles/{endpoint.path.rsplit('/', 1)[1]}")
        return self

    def build(self, name: str, context: VendorContext) -> BatchProfileDestination:
        endpoint = endpoint_for(self.endpoint, context.traffic)
        return BatchProfileDestination(name, self, endpoint, lambda: BatchProfileClient(
            self.project_key, context.secrets.resolve(self.rest_key, what=f"{name}.rest_key"), endpoint,
            session=pooled_session(self.concurrency), timeout_s=self.timeout_s,
            base=context.endpoints.batch_profile or context.endpoints.batch,
            rate_limited_wait_s=self.rate_limited_wait_s,
        ))


class BatchProfileDestination(VendorDestination):
    vendor = "batch_profile"
    # It takes deletions only to refuse them: the person's erasure receipt then says this project
    # still holds them, rather than leaving it out (docs/vendors/batch-profile.md#deletion).
    record_type = (UserChange, UserDeletion)

    def __init__(self, name: str, settings: BatchProfileSettings, endpoint: Endpoint, client: Any):
        super().__init__(name, settings, client)
        self.endpoint = endpoint
        # "auto" may meet either route: the settings' values are capped at the one chosen.
        self.batch_size = min(settings.batch_size or endpoint.max_profiles, endpoint.max_profiles)
        per_s = min(settings.profiles_per_s or endpoint.profiles_per_s / DEFAULT_INSTANCES, endpoint.profiles_per_s)
        burst = min(settings.profiles_burst or endpoint.burst / DEFAULT_INSTANCES, endpoint.burst)
        self.record_pacing = RecordPacing(f"batch_profile:{settings.project_key}:{endpoint.name}", per_s, burst)

    def prepare(self, record: UserChange | UserDeletion) -> dict[str, Any]:
        if isinstance(record, UserDeletion):
            raise RecordRejected(
                FailureCode.UNSUPPORTED_OPERATION,
                "Batch's Profile API has no route that deletes a profile: ask Batch (dashboard or support) to "
                "erase this Custom ID from the project", "delete")
        return profile_update(record)

    def send(self, payloads: list[dict[str, Any]]) -> SendResult:
        # The Profile API returns no token: the call is recorded, by route (mass_update is applied later).
        return SendResult(token=None, token_kind=self.endpoint.name, rejected=self._client.get().send(payloads))
