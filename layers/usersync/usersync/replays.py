"""Replayed messages: `usersync replay --poison` moves a message from WorkDeadLetterQueue back to
WorkQueue carrying its first message id, so the delivery ledger, which knows the message by that id,
skips what it delivered before. The id comes with an HMAC of the id and the body, keyed by a secret
only the operator's replay and the deliver function read (an SSM SecureString parameter): an
attribute a producer sets itself, or copies from another message, is ignored and the message is
delivered as what it is, a new message."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from usersync.observability import logger

ORIGINAL_MESSAGE_ID = "usersync-original-message-id"
REPLAY_SIGNATURE = "usersync-replay-signature"
DEFAULT_KEY_PARAMETER = "/usersync/secrets/replay_signing_key"  # under the template's SecretsPathPrefix


def signature(key: str, original_id: str, body: str) -> str:
    return hmac.new(key.encode(), f"{original_id}\n{body}".encode(), hashlib.sha256).hexdigest()


class ReplayCheck:
    """The verified first message id of a replayed message, else None. The key is fetched only when
    a message claims to be replayed (`key()` returns None when there is no key to check against)."""

    def __init__(self, key: Callable[[], str | None]):
        self._key = key

    def original_id(self, body: str, attributes: Mapping[str, Any]) -> str | None:
        original = _string(attributes, ORIGINAL_MESSAGE_ID)
        if original is None:
            return None
        given, key = _string(attributes, REPLAY_SIGNATURE), self._key()
        if given and key and hmac.compare_digest(given, signature(key, original, body)):
            return original
        logger.warning("a message names an original message id without a valid replay signature: ignored",
                       extra={"original_message_id": original[:100], "signed": bool(given)})
        return None


def _string(attributes: Mapping[str, Any], name: str) -> str | None:
    """A message attribute's string value, in Lambda's shape (stringValue) or the SQS API's (StringValue)."""
    value = attributes.get(name) or {}
    found = value.get("stringValue") or value.get("StringValue") if isinstance(value, Mapping) else None
    return found if isinstance(found, str) and found else None
