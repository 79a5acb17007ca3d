"""HTTP client for Batch's Custom Audience API 1.1 (same auth, redaction and errors as Custom Data)."""

from __future__ import annotations

from urllib.parse import quote

from usersync.delivery.outcomes import VendorRejected, VendorUnavailable
from usersync.vendors.batch.client import BatchApi

INDEXING_STATES = ("IN_PROGRESS", "APPLIED")


class BatchAudienceClient(BatchApi):
    def update(self, audience: str, elements: list[dict[str, Any]]) -> str:
        """PATCH .../custom-audience/{audience} with up to 10,000 ids; returns the indexing token."""
        try:
            answer = self.call("PATCH", "1.1", _path(audience), {"ids": elements}, route="custom audience update",
                               expect=201)
        except VendorRejected as exc:
            if exc.status == 404:
                raise VendorRejected(404, exc.code, (
                    f"audience {audience!r} does not exist in this app: create it (POST /1.1/<API key>/custom-audience/"
                    f"{audience} or in the dashboard), then replay these records")) from None
            raise
        token = answer.get("indexing_token")
        if not isinstance(token, str) or not token:
            raise VendorUnavailable("Batch custom audience update: answered 201 without an indexing_token")
        return token

    def indexing_state(self, audience: str, token: str) -> str:
        """GET .../custom-audience/{audience}?indexing_token=...: IN_PROGRESS or APPLIED."""
        answer = self.call("GET", "1.1", _path(audience), route="custom audience indexing state",
                           params={"indexing_token": token})
        state = answer.get("indexing_state")
        if state not in INDEXING_STATES:
            raise VendorUnavailable(f"Batch custom audience indexing state: unexpected answer {str(answer)[:200]}")
        return state


def _path(audience: str) -> str:
    return f"/custom-audience/{quote(audience, safe='')}"
