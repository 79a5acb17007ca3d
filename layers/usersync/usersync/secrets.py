"""Secrets: resolved from SSM Parameter Store, Secrets Manager or the environment, and redacted
from every log line and exception once known.

A destination config names a secret by reference: `ssm:/usersync/secrets/batch_ios_api_key`,
`secretsmanager:usersync/batch#rest_key` (a key of a JSON secret), or `env:BATCH_REST_KEY`.
A literal value is accepted only outside Lambda (local runs and the demo).
"""

from __future__ import annotations

import logging
import os
import threading

from aws_lambda_powertools.utilities import parameters

REDACTED = "***"
# Parameters caches values this long; a rotated key is picked up within that time.
CACHE_SECONDS = int(os.environ.get("POWERTOOLS_PARAMETERS_MAX_AGE", "300"))

_known: set[str] = set()
_lock = threading.Lock()


class Secret:
    """A secret value that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if not isinstance(value, str) or not value:
            raise ValueError("a secret must be a non-empty string")
        self._value = value
        remember(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__


def remember(value: str) -> None:
    # Very short values would redact ordinary words; real keys are long.
    if len(value) >= 6:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """`text` with every known secret replaced by ***."""
    for value in _known:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites log records that contain a known secret (e.g. urllib3 logging a Batch URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known and isinstance(record.msg, str):
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def is_reference(ref: str) -> bool:
    return ref.startswith(("ssm:", "secretsmanager:", "env:"))


def resolve(ref: str, *, what: str) -> Secret:
    """The secret `ref` points at. `what` names it in errors (never the value)."""
    if ref.startswith("ssm:"):
        return Secret(parameters.get_parameter(ref[4:], decrypt=True, max_age=CACHE_SECONDS))
    if ref.startswith("secretsmanager:"):
        name, _, key = ref[len("secretsmanager:"):].partition("#")
        if key:
            document = parameters.get_secret(name, transform="json", max_age=CACHE_SECONDS)
            if key not in document:
                raise KeyError(f"{what}: secret {name} has no key {key!r}")
            return Secret(str(document[key]))
        return Secret(parameters.get_secret(name, max_age=CACHE_SECONDS))
    if ref.startswith("env:"):
        value = os.environ.get(ref[4:])
        if not value:
            raise KeyError(f"{what}: environment variable {ref[4:]} is not set")
        return Secret(value)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise ValueError(f"{what}: in the cloud a secret must be a reference (ssm:, secretsmanager: or env:), not a value")
    return Secret(ref)
