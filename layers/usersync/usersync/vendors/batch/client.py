"""HTTP client for Batch's REST APIs. The app's API key sits in the URL path, so no URL,
and no exception text that could hold one, leaves this module unredacted."""

from __future__ import annotations

from typing import Any

import requests

from usersync.delivery.outcomes import VendorRejected, VendorUnavailable
from usersync.delivery.retries import may_have_reached_vendor
from usersync.secrets import Secret, redact
from usersync.vendors.http import error_of, json_body, retry_after_seconds

DEFAULT_BASE_URL = "https://api.batch.com"


class BatchApi:
    """One Batch app (one API key) reached with the company REST key, over a pooled session."""

    def __init__(self, api_key: Secret, rest_key: Secret, *, session: requests.Session,
                 timeout_s: float, base: str | None = None):
        self._api_key, self._rest_key = api_key, rest_key
        self._session, self._timeout_s = session, timeout_s
        self._base = (base or DEFAULT_BASE_URL).rstrip("/")

    def call(self, method: str, version: str, path: str, body: Any = None, *, route: str,
             expect: int = 200, params: dict[str, str] | None = None) -> dict[str, Any]:
        """`path` follows the app's key: `/{version}/{api key}{path}`. `route` names the call in errors."""
        url = f"{self._base}/{version}/{self._api_key.reveal()}{path}"
        try:
            response = self._session.request(
                method, url, data=None if body is None else json_body(body), params=params, timeout=self._timeout_s,
                headers={"X-Authorization": self._rest_key.reveal(), "Content-Type": "application/json"},
            )
        except requests.RequestException as exc:
            raise VendorUnavailable(f"Batch {route}: {type(exc).__name__}: {redact(str(exc))}",
                                    maybe_applied=may_have_reached_vendor(exc)) from None
        if response.status_code == expect:
            try:
                return response.json()
            except ValueError:
                raise VendorUnavailable(f"Batch {route}: answered {expect} with a body that is not JSON") from None
        error = error_of(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise VendorUnavailable(
                f"Batch {route}: HTTP {response.status_code} {error[0]}: {error[1]}",
                retry_after_s=retry_after_seconds(response), status=response.status_code,
            )
        raise VendorRejected(response.status_code, error[0], error[1])


class BatchCustomDataClient(BatchApi):
    def bulk_update(self, elements: list[dict[str, Any]]) -> str:
        """POST .../data/users with up to 10,000 users; returns Batch's token."""
        answer = self.call("POST", "1.0", "/data/users", elements, route="custom data bulk update")
        return str(answer.get("token", ""))

    def bulk_delete(self, custom_ids: list[str]) -> str:
        """DELETE .../data/users with up to 10,000 custom ids: their custom data is deleted; returns the token."""
        answer = self.call("DELETE", "1.0", "/data/users", custom_ids, route="custom data bulk delete")
        return str(answer.get("token", ""))
