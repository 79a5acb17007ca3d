"""The port every vendor adapter implements; the pipeline knows nothing else about vendors."""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Protocol

import requests
from requests.adapters import HTTPAdapter

from usersync.delivery.outcomes import SendResult
from usersync.records import Record


class Destination(Protocol):
    name: str
    vendor: ClassVar[str]            # "batch", "batch_audience", "clevertap"
    record_type: ClassVar[type]      # the kind of record it takes
    batch_size: int                  # records per call
    concurrency: int                 # calls in flight at once

    def prepare(self, record: Record) -> Any:
        """The record's payload for this vendor; raises RecordRejected naming the field."""

    def key(self, record: Record) -> str:
        """The vendor's user key: one call never carries the same key twice."""

    def send(self, payloads: list[Any]) -> SendResult:
        """One call; raises VendorRejected (4xx) or VendorUnavailable (worth retrying)."""

    # Optional: `plan_calls(prepared, batch_size) -> waves of calls` replaces
    # usersync.delivery.batching.generations for a destination whose calls group records
    # otherwise (a Batch audience call holds one audience, and each id's last action).


def pooled_session(concurrency: int) -> requests.Session:
    """One session per destination, its pool sized to the calls it runs at once."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(concurrency, 1), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class LazyClient:
    """Builds a vendor client on first use, so secrets are fetched only when there is
    something to send (and a bad reference fails that send, not the whole cold start)."""

    def __init__(self, factory):
        self._factory, self._client, self._lock = factory, None, threading.Lock()

    def get(self):
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client
