"""Secrets: resolved from SSM Parameter Store, Secrets Manager or the environment, and redacted
from every log line and exception once known.

A destination config names a secret by reference: `ssm:/usersync/secrets/batch_ios_api_key`,
`secretsmanager:usersync/batch#rest_key` (a key of a JSON secret), or `env:BATCH_REST_KEY`.
In Lambda only the first two are accepted; `env:` and literal values are for local runs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a provider is first needed: most functions are given theirs
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

REDACTED = "***"
# A secret this long is redacted wherever it appears. A shorter one only where it stands whole
# (a URL path segment, a header or query value, a quoted value, a word): "abc" is redacted in
# "/1.0/abc/data" and "passcode: abc", never inside "abcdef" or "crabcake".
SHORT = 6
_TOKEN_CHARACTER = r"[\w-]"

_known: set[str] = set()
_short: set[str] = set()
_short_pattern: re.Pattern[str] | None = None
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
    global _short_pattern
    with _lock:
        if len(value) >= SHORT:
            _known.add(value)
        elif value not in _short:
            _short.add(value)
            alternatives = "|".join(map(re.escape, sorted(_short, key=len, reverse=True)))
            _short_pattern = re.compile(f"(?<!{_TOKEN_CHARACTER})(?:{alternatives})(?!{_TOKEN_CHARACTER})")


def redact(text: str) -> str:
    """`text` with every known secret replaced by ***."""
    for value in _known:
        if value in text:
            text = text.replace(value, REDACTED)
    if _short_pattern is not None:
        text = _short_pattern.sub(REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites log records that contain a known secret (e.g. urllib3 logging a Batch URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (_known or _short) and isinstance(record.msg, str):
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def is_reference(ref: str) -> bool:
    return ref.startswith(("ssm:", "secretsmanager:", "env:"))


class SecretResolver:
    """Resolves secret references. Built by the composition root from the function's settings:
    `environ` answers `env:` references, `in_lambda` refuses them and literal values in the cloud,
    and the Powertools providers `ssm` and `secrets_manager` (the function's own clients; made on
    first use when not given) cache what SSM and Secrets Manager answer for `max_age_s`."""

    def __init__(self, *, max_age_s: int = 300, in_lambda: bool = False, environ: Mapping[str, str] | None = None,
                 ssm: SSMProvider | None = None, secrets_manager: SecretsProvider | None = None):
        self.max_age_s, self.in_lambda = max_age_s, in_lambda
        self._environ = environ if environ is not None else {}
        self._ssm, self._secrets_manager = ssm, secrets_manager

    def resolve(self, ref: str, *, what: str) -> Secret:
        """The secret `ref` points at. `what` names it in errors (never the value)."""
        if ref.startswith("ssm:"):
            if self._ssm is None:
                from aws_lambda_powertools.utilities.parameters import SSMProvider
                self._ssm = SSMProvider()
            return Secret(self._ssm.get(ref[4:], decrypt=True, max_age=self.max_age_s))
        if ref.startswith("secretsmanager:"):
            if self._secrets_manager is None:
                from aws_lambda_powertools.utilities.parameters import SecretsProvider
                self._secrets_manager = SecretsProvider()
            name, _, key = ref[len("secretsmanager:"):].partition("#")
            if key:
                document = self._secrets_manager.get(name, transform="json", max_age=self.max_age_s)
                if key not in document:
                    raise KeyError(f"{what}: secret {name} has no key {key!r}")
                return Secret(str(document[key]))
            return Secret(self._secrets_manager.get(name, max_age=self.max_age_s))
        if self.in_lambda:  # a function's environment is readable by anyone who may read its configuration
            kind = "an env: reference" if ref.startswith("env:") else "a value"
            raise ValueError(f"{what}: in Lambda a secret must be an ssm: or secretsmanager: reference, not {kind}")
        if ref.startswith("env:"):
            value = self._environ.get(ref[4:])
            if not value:
                raise KeyError(f"{what}: environment variable {ref[4:]} is not set")
            return Secret(value)
        return Secret(ref)
