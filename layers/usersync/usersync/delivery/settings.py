"""The delivery settings every destination shares: how its calls are paced, timed out and retried.
Vendor settings models (batch/destination.py, ...) extend `DeliverySettings` with their own."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DeliverySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(2, ge=1, le=32, description="calls in flight at once per invocation (the ceiling "
                                                         "the adaptive limit climbs back to after a 429)")
    rate_per_s: float | None = Field(None, gt=0, le=10_000, description="calls started per second at most "
                                                                        "per invocation; none: not paced")
    timeout_s: float = Field(30.0, gt=0, le=300, description="HTTP timeout of one call")
    max_attempts: int = Field(5, ge=1, le=20, description="calls in all for one batch, the first included, "
                                                          "within the invocation")
    backoff_base_s: float = Field(0.5, gt=0, le=60, description="first backoff ceiling; doubles per attempt")
    backoff_max_s: float = Field(20.0, gt=0, le=900, description="largest backoff ceiling")


def delivery_settings(destination: Any) -> DeliverySettings:
    """The destination's delivery settings; a destination whose settings model does not extend
    DeliverySettings gets the defaults, with the fields it does have (concurrency, timeout_s)."""
    settings = getattr(destination, "settings", None)
    if isinstance(settings, DeliverySettings):
        return settings
    known = {name: getattr(settings, name) for name in DeliverySettings.model_fields if hasattr(settings, name)}
    known.setdefault("concurrency", destination.concurrency)
    return DeliverySettings.model_validate(known)
