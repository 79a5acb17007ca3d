"""Destinations configuration: which vendors and apps receive records, with their settings.

The document is JSON: `{"destinations": {"<name>": {"type": "batch" | "batch_audience" | "batch_profile" |
"clevertap", ...settings}}}`.
It is read from a file (`file:path`), inline JSON, or an SSM parameter name (in the cloud).
Secrets inside it are references, resolved when first needed (usersync.secrets).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from usersync.delivery.destination import Destination
from usersync.vendors.base import VendorContext
from usersync.vendors.batch.destination import BatchSettings
from usersync.vendors.batch_audience.destination import BatchAudienceSettings
from usersync.vendors.batch_profile.destination import BatchProfileSettings
from usersync.vendors.clevertap.destination import CleverTapSettings

if TYPE_CHECKING:  # Powertools Parameters is imported where a provider is made (usersync.wiring)
    from aws_lambda_powertools.utilities.parameters import SSMProvider

DestinationSettings = Annotated[Union[BatchSettings, BatchAudienceSettings, BatchProfileSettings, CleverTapSettings],
                                Field(discriminator="type")]
DestinationName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_\-]{1,64}$")]


class ConfigError(ValueError):
    """The destinations config cannot be used; the message says where and why."""


class DestinationsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    destinations: dict[DestinationName, DestinationSettings] = Field(min_length=1)

    def build(self, context: VendorContext | None = None) -> dict[str, Destination]:
        context = context or VendorContext()
        return {name: settings.build(name, context) for name, settings in self.destinations.items()}


def parse_config(text: str, *, origin: str) -> DestinationsConfig:
    try:
        return DestinationsConfig.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"destinations config {origin}: {problems}") from None


def load_config(location: str, *, ssm: SSMProvider, max_age_s: int = 300) -> DestinationsConfig:
    """`location`: `file:<path>`, inline JSON, or an SSM parameter name, read with `ssm` (the
    function's own Powertools provider) and cached `max_age_s`."""
    if not location:
        raise ConfigError("no destinations config: give a file:<path>, inline JSON or an SSM parameter name")
    if location.startswith("file:"):
        path = Path(location[5:])
        return parse_config(path.read_text(encoding="utf-8"), origin=str(path))
    if location.lstrip().startswith("{"):
        return parse_config(location, origin="(inline)")
    text = ssm.get(location, max_age=max_age_s)
    return parse_config(text, origin=f"ssm:{location}")


class DestinationsCache:
    """Builds destinations once per config version: clients and pooled sessions live across invocations."""

    def __init__(self, load: Callable[[], DestinationsConfig], context: VendorContext | None = None):
        self._load, self._context = load, context or VendorContext()
        self._config: DestinationsConfig | None = None
        self._destinations: dict[str, Destination] = {}

    def get(self) -> dict[str, Destination]:
        config = self._load()
        if config != self._config:
            self._config, self._destinations = config, config.build(self._context)
        return self._destinations
