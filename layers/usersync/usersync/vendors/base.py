"""What every vendor destination shares: its name and settings, a client built on first use, and
what it is built with (the vendors' base URLs and the secret resolver)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from usersync.records import Record
from usersync.secrets import SecretResolver
from usersync.vendors.http import LazyClient


DELETE = "delete"  # the kind of call that erases people (usersync.delivery.plan: calls never mix kinds)
ERASURE = "erasure"  # the token kind of such a call


@dataclass(frozen=True, slots=True)
class Erase:
    """The payload that erases one person at a vendor (its user key)."""
    key: str


@dataclass(frozen=True, slots=True)
class VendorEndpoints:
    """Base URLs replacing the vendors' own (simulators, tests); None keeps the vendor's."""
    batch: str | None = None
    batch_audience: str | None = None  # None: `batch` (both APIs live on one host)
    batch_profile: str | None = None   # None: `batch` (the Profile API lives on the same host)
    clevertap: str | None = None       # a `{region}` in it is replaced by the destination's region


# What the function building the destinations delivers: SQS messages (live changes, a few at a time)
# or chunks of files (large periodic imports). A vendor with a route for each picks by it.
Traffic = Literal["messages", "files"]
MESSAGES: Traffic = "messages"
FILES: Traffic = "files"


@dataclass(frozen=True, slots=True)
class VendorContext:
    """What destinations are built with, from the function's settings (usersync.wiring)."""
    endpoints: VendorEndpoints = field(default_factory=VendorEndpoints)
    secrets: SecretResolver = field(default_factory=SecretResolver)
    traffic: Traffic | None = None  # None: not known (the command line's checks, the follow-up function)


class VendorDestination:
    """One configured destination of one vendor: the usersync.delivery.destination.Destination port."""
    vendor: ClassVar[str]
    record_type: ClassVar[type | tuple[type, ...]]  # the kinds of record it takes

    def __init__(self, name: str, settings: Any, client: Callable[[], Any]):
        self.name, self.settings = name, settings
        self.batch_size, self.concurrency = settings.batch_size, settings.concurrency
        self._client = LazyClient(client)

    def key(self, record: Record) -> str:
        """The vendor's user key: one call never carries the same key twice."""
        return record.user_id

    def prepare(self, record: Record) -> Any:
        raise NotImplementedError

    def prepare_steps(self, record: Record) -> list[Any]:
        """One payload, unless the vendor needs several calls (see usersync.delivery.destination)."""
        return [self.prepare(record)]

    def call_kind(self, payload: Any) -> str:
        """Updates and deletions go to different routes: a call holds one kind."""
        return DELETE if isinstance(payload, Erase) else "update"

    @property
    def call_limits(self) -> dict[str, int]:
        """Payloads per call, by kind of call, where a kind has its own limit."""
        return {}
