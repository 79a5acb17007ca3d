"""What the vendor clients share over HTTP: one pooled session per destination, clients built on
first use, and reading a vendor's error answer (code, message, Retry-After) whatever its shape."""

from __future__ import annotations

import json
import threading
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter

from usersync.secrets import redact

MAX_ERROR_CHARS = 300  # of a vendor's error text kept in a message


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


def retry_after_seconds(response: requests.Response) -> float | None:
    """The Retry-After header in seconds (a vendor that does not document it may still send it)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_of(response: requests.Response) -> tuple[Any, str]:
    """(code, message) from a vendor's error body, redacted: Batch answers
    `{"error_code", "error", "error_message"}`, CleverTap `{"status": "fail", "error", "code"}`,
    a gateway may answer HTML or nothing."""
    try:
        body = response.json()
    except ValueError:
        return response.status_code, redact(response.text[:MAX_ERROR_CHARS]) or response.reason
    if not isinstance(body, dict):
        return response.status_code, short(body)
    if "error_code" in body or "error_message" in body:  # Batch: the code's name, and its message
        code, message = body.get("error") or body.get("error_code"), body.get("error_message")
    else:  # CleverTap, and anything else: a numeric code and an error text
        code, message = body.get("code"), body.get("error") or body.get("message")
    return code or response.status_code, redact(str(message or ""))


def short(body: Any) -> str:
    """A body, cut and redacted, for a message."""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    return redact(text[:MAX_ERROR_CHARS])


def json_body(body: Any) -> bytes:
    """A request's JSON body, as UTF-8 bytes: orjson's, several times faster than `json` on a bulk
    call's 10,000 elements (compact, non-ASCII as UTF-8: the same JSON values). What orjson refuses
    (a key that is not a string, a type it does not know) is written by `json`, or refused as before.
    A body never holds NaN or an integer past 64 bits: the record format refuses them."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, allow_nan=False).encode("utf-8")
