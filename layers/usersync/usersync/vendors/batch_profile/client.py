"""HTTP client for Batch's Profile API: `POST /2.x/profiles/update` and `/2.x/profiles/mass-update`.

Batch answers 202 to a call it takes: `{"code": "SUCCESS"}`, or `{"code": "SUCCESS_WITH_PARTIAL_ERRORS",
"errors": [{"bulk_index", "category", "attribute"?, "reason"}]}` naming, by position in the call, the
profiles it refused something of; those become per-record rejections. The project key identifies the
project, it is not a secret; the REST key is, and goes in the Authorization header only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import requests

from usersync.delivery.outcomes import RecordRejected, VendorRejected, VendorUnavailable
from usersync.delivery.retries import may_have_reached_vendor
from usersync.failures import FailureCode
from usersync.secrets import Secret, redact
from usersync.vendors.http import error_of, json_body, retry_after_seconds, short

DEFAULT_BASE_URL = "https://api.batch.com"
API_VERSION = "2.11"  # the version the pages' examples and OpenAPI servers default to
SUCCESS, PARTIAL = "SUCCESS", "SUCCESS_WITH_PARTIAL_ERRORS"
# A 429 says "wait a few seconds before retrying", without a Retry-After: the default wait.
RATE_LIMITED_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One of the Profile API's two update routes, with the limits its page gives."""
    name: str            # the `endpoint` setting's value, and the token kind of its calls
    path: str
    max_profiles: int    # per call ("at most N operations or the API call will be rejected")
    profiles_per_s: int  # token bucket refill, in updates: one update is one Custom ID of a call
    burst: int           # token bucket size


UPDATE = Endpoint("update", "/profiles/update", max_profiles=200, profiles_per_s=300, burst=1_000)
# "No burst": the bucket holds one second of its rate, so a full call of 10,000 can pass.
MASS_UPDATE = Endpoint("mass_update", "/profiles/mass-update", max_profiles=10_000, profiles_per_s=10_000,
                       burst=10_000)
ENDPOINTS = {endpoint.name: endpoint for endpoint in (UPDATE, MASS_UPDATE)}


class BatchProfileClient:
    """One Batch project (project key) reached with the company REST key, on one endpoint."""

    def __init__(self, project_key: str, rest_key: Secret, endpoint: Endpoint, *, session: requests.Session,
                 timeout_s: float, base: str | None = None, rate_limited_wait_s: float = RATE_LIMITED_WAIT_S):
        self.project_key, self.endpoint, self.rate_limited_wait_s = project_key, endpoint, rate_limited_wait_s
        self._rest_key, self._session, self._timeout_s = rest_key, session, timeout_s
        self._url = f"{(base or DEFAULT_BASE_URL).rstrip('/')}/{API_VERSION}{endpoint.path}"

    def send(self, profiles: list[dict[str, Any]]) -> dict[int, RecordRejected]:
        """One call; returns the profiles Batch refused something of, by position in `profiles`."""
        route = f"Batch profiles {self.endpoint.name}"
        try:
            response = self._session.post(
                self._url, data=json_body(profiles), timeout=self._timeout_s,
                headers={"Authorization": f"Bearer {self._rest_key.reveal()}", "X-Batch-Project": self.project_key,
                         "Content-Type": "application/json"},
            )
        except requests.RequestException as exc:
            raise VendorUnavailable(f"{route}: {type(exc).__name__}: {redact(str(exc))}",
                                    maybe_applied=may_have_reached_vendor(exc)) from None
        status = response.status_code
        if 200 <= status < 300:
            return read_answer(_json(response, route), len(profiles), route, status)
        code, message = error_of(response)
        if status == 429:
            raise VendorUnavailable(f"{route}: HTTP 429 {code}: {message}", status=429,
                                    retry_after_s=retry_after_seconds(response) or self.rate_limited_wait_s)
        if status >= 500:
            raise VendorUnavailable(f"{route}: HTTP {status} {code}: {message}",
                                    retry_after_s=retry_after_seconds(response), status=status)
        if status == 401:
            message = f"{message or 'authentication invalid'}: check the REST key and the project key ({self.project_key})"
        raise VendorRejected(status, code, message)


def read_answer(body: Any, count: int, route: str, status: int) -> dict[int, RecordRejected]:
    """A 2xx body -> the refused profiles by position. A body usersync cannot read is no proof of what
    was applied: the call is retried (resending a profile update sets the same values again)."""
    if not isinstance(body, dict) or body.get("code") not in (SUCCESS, PARTIAL):
        raise VendorUnavailable(f"{route}: answered {status} with a body it does not document: {short(body)}")
    if body["code"] == SUCCESS:
        return {}
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        raise VendorUnavailable(f"{route}: answered {PARTIAL} without a list of errors: {short(body)}")
    by_position: dict[int, list[dict[str, Any]]] = defaultdict(list)
    unplaced = 0
    for error in errors:
        index = error.get("bulk_index") if isinstance(error, dict) else None
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count:
            by_position[index].append(error)
        else:
            unplaced += 1
    if unplaced:
        why = RecordRejected(
            FailureCode.VENDOR_REJECTED,
            f"Batch answered {PARTIAL} with {unplaced} error(s) usersync could not match to a profile of the call: "
            "this record may or may not be applied in full; check the profile, then replay",
            vendor_status=status, vendor_code=PARTIAL, retryable=True)
        return {position: why for position in range(count)}
    return {position: _rejection(found, status) for position, found in by_position.items()}


def _rejection(errors: list[dict[str, Any]], status: int) -> RecordRejected:
    reasons = []
    for error in errors:
        attribute, reason = error.get("attribute"), error.get("reason") or "no reason given"
        reasons.append(f"{attribute}: {reason}" if attribute else str(reason))
    first = errors[0]
    attribute = first.get("attribute")
    field = f"attributes.{attribute_name(attribute)}" if isinstance(attribute, str) and attribute else None
    message = (f"Batch refused part of this profile update ({redact('; '.join(reasons))}); it applies the rest, "
               "so fix the value at the source, then replay the record")
    return RecordRejected(FailureCode.VENDOR_REJECTED, message, field, vendor_status=status,
                          vendor_code=first.get("category") or PARTIAL)


def attribute_name(key: str) -> str:
    """The record's attribute behind a key of the attributes object: `date(signup)` -> `signup`."""
    for wrapper in ("date(", "url("):
        if key.startswith(wrapper) and key.endswith(")"):
            return key[len(wrapper):-1]
    return key


def _json(response: requests.Response, route: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise VendorUnavailable(f"{route}: answered {response.status_code} with a body that is not JSON") from None
