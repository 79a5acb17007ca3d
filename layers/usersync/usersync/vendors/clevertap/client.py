"""HTTP client for CleverTap's Upload User Profiles API (`POST /1/upload`).

CleverTap answers 200 even when records fail: the body says `success`, `partial` or `fail` and
lists each unprocessed record with a code. Those are matched back to their place in the call, so
the processed ones count as delivered and each failed one is rejected with CleverTap's own code.
A `fail` body is never taken for a success.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from usersync.delivery.outcomes import RecordRejected, VendorRejected, VendorUnavailable
from usersync.delivery.retries import may_have_reached_vendor
from usersync.secrets import Secret, redact
from usersync.vendors.http import error_of, json_body, retry_after_seconds, short
from usersync.failures import FailureCode

Region = Literal["eu1", "in1", "sg1", "us1", "aps3", "mec1"]
REGIONS: tuple[str, ...] = Region.__args__
DEFAULT_REGION = "eu1"  # Europe: api.clevertap.com
UPLOAD_PATH = "/1/upload"
DELETE_PATH = "/1/delete/profiles.json"  # https://developer.clevertap.com/docs/delete-user-profile-api
MAX_DELETES_PER_CALL = 100  # identities per delete call (the page's per-request limit)

# Per-record codes CleverTap documents for profiles, and the record field each one is about.
CODE_FIELDS = {514: "Gender", 515: "Email", 516: "Phone", 517: "Employed", 518: "Education", 519: "Married", 520: "Age"}
CODE_MISSING_IDENTITY = 523
CODE_SERVER_ERROR = 555  # CleverTap's own failure: the record itself is fine, replay it


def base_url(region: str, override: str | None = None) -> str:
    """The account's regional base URL; `override` (a simulator's) replaces it, `{region}` in it substituted."""
    if override:
        return override.rstrip("/").replace("{region}", region)
    if region == DEFAULT_REGION:
        return "https://api.clevertap.com"
    return f"https://{region}.api.clevertap.com"


@dataclass(slots=True)
class UploadAnswer:
    processed: int
    rejected: dict[int, RecordRejected] = field(default_factory=dict)


class CleverTapClient:
    """One CleverTap account (id, passcode, region) over a pooled session."""

    def __init__(self, account_id: str, passcode: Secret, region: str, *, session: requests.Session,
                 timeout_s: float, base: str | None = None):
        self.account_id, self.region = account_id, region
        self._passcode, self._session, self._timeout_s = passcode, session, timeout_s
        self._base = base_url(region, base)

    def upload(self, records: list[dict[str, Any]], *, dry_run: bool = False) -> UploadAnswer:
        """One call with up to the per-call limit of records; `dry_run` validates without writing."""
        body = self._post(UPLOAD_PATH, {"d": records}, "upload", params={"dryRun": "1"} if dry_run else None)
        return read_upload_answer(body, records)

    def delete_profiles(self, identities: list[str]) -> dict[int, RecordRejected]:
        """POST /1/delete/profiles.json with up to 100 identities (never guids in the same call):
        the positions CleverTap did not confirm, with why."""
        body = self._post(DELETE_PATH, {"identity": identities}, "delete profiles")
        if isinstance(body, dict) and body.get("status") == "success":
            return {}
        why = RecordRejected(
            FailureCode.VENDOR_REJECTED,
            f"CleverTap did not confirm the deletion: {short(body)}; check the profile, then replay",
            vendor_status=200, vendor_code=body.get("code") if isinstance(body, dict) else None, retryable=True)
        return dict.fromkeys(range(len(identities)), why)

    def _post(self, path: str, document: Any, route: str, params: dict[str, str] | None = None) -> Any:
        """The 200 answer's JSON; anything else raised as VendorUnavailable or VendorRejected."""
        try:
            response = self._session.post(
                self._base + path, params=params, timeout=self._timeout_s,
                data=json_body(document),
                headers={
                    "X-CleverTap-Account-Id": self.account_id,
                    "X-CleverTap-Passcode": self._passcode.reveal(),
                    "Content-Type": "application/json; charset=utf-8",
                },
            )
        except requests.RequestException as exc:
            raise VendorUnavailable(f"CleverTap {route}: {type(exc).__name__}: {redact(str(exc))}",
                                    maybe_applied=may_have_reached_vendor(exc)) from None
        if response.status_code == 200:
            return _json(response, route)
        status, (code, message) = response.status_code, error_of(response)
        if status == 429 or status >= 500:
            raise VendorUnavailable(f"CleverTap {route}: HTTP {status} {code}: {message}",
                                    retry_after_s=retry_after_seconds(response), status=status)
        if status == 401:
            message = (f"{message or 'Invalid Credentials'}: check the account id, the passcode and the account's "
                       f"region (configured: {self.region}); a wrong region also answers 401")
        raise VendorRejected(status, code, message)


def read_upload_answer(body: Any, records: list[dict[str, Any]]) -> UploadAnswer:
    """The 200 body -> how many records CleverTap processed and, by position, those it did not."""
    if not isinstance(body, dict) or body.get("status") not in ("success", "partial", "fail"):
        raise VendorUnavailable(f"CleverTap upload: answered 200 with a body it does not document: {short(body)}")
    status, count = body["status"], len(records)
    unprocessed = body.get("unprocessed") or []
    processed = body.get("processed")
    if not isinstance(unprocessed, list):
        raise VendorUnavailable(f"CleverTap upload: 'unprocessed' is not a list: {short(body)}")

    rejected: dict[int, RecordRejected] = {}
    unmatched = 0
    by_identity = {str(r.get("identity")): i for i, r in enumerate(records) if "identity" in r}
    for entry in unprocessed:
        position = _position(entry, records, by_identity, rejected)
        if position is None:
            unmatched += 1
        else:
            rejected[position] = _rejection(entry, records[position])

    # Records CleverTap says failed but that usersync cannot place: none of the rest is known delivered.
    expected_failures = count - processed if isinstance(processed, int) and 0 <= processed <= count else None
    undetermined = unmatched or (expected_failures is not None and expected_failures > len(rejected))
    if status == "fail" or undetermined:
        why = _whole_call_rejection(body, status, unmatched)
        for position in range(count):
            rejected.setdefault(position, why)
    return UploadAnswer(processed=count - len(rejected), rejected=rejected)


def _position(entry: Any, records: list[dict[str, Any]], by_identity: dict[str, int],
              taken: dict[int, RecordRejected]) -> int | None:
    """Where an unprocessed entry's echoed record sits in the call (identities are unique per call)."""
    if not isinstance(entry, dict):
        return None
    echoed = entry.get("record")
    if isinstance(echoed, str):
        try:
            echoed = json.loads(echoed)
        except ValueError:
            return None
    if not isinstance(echoed, dict):
        return None
    if "identity" in echoed:
        position = by_identity.get(str(echoed["identity"]))
        if position is not None and position not in taken:
            return position
    for position, record in enumerate(records):
        if record == echoed and position not in taken:
            return position
    return None


def _rejection(entry: dict[str, Any], record: dict[str, Any]) -> RecordRejected:
    code, error = entry.get("code"), str(entry.get("error") or "no reason given")
    name = CODE_FIELDS.get(code)
    if name and name in record.get("profileData", {}):
        where = f"attributes.{name}"
    elif code == CODE_MISSING_IDENTITY:
        where = "user_id"
    else:
        where = None
    retryable = code == CODE_SERVER_ERROR
    message = f"CleverTap did not process this record: {redact(error)}" + (" (its server error: replay it)" if retryable else "")
    return RecordRejected(FailureCode.VENDOR_REJECTED, message, where, vendor_status=200, vendor_code=code, retryable=retryable)


def _whole_call_rejection(body: dict[str, Any], status: str, unmatched: int) -> RecordRejected:
    if unmatched or status != "fail":
        return RecordRejected(
            FailureCode.VENDOR_REJECTED,
            f"CleverTap answered '{status}' with failures usersync could not match to records "
            f"({unmatched} unmatched, processed={body.get('processed')!r}): this record may or may not be applied; "
            "check the profile, then replay",
            vendor_status=200, vendor_code=body.get("code"), retryable=True,
        )
    error = body.get("error") or "CleverTap answered 'fail' without a reason for this record"
    return RecordRejected(FailureCode.VENDOR_REJECTED, f"CleverTap did not process this record: {redact(str(error))}",
                          vendor_status=200, vendor_code=body.get("code"))


def _json(response: requests.Response, route: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise VendorUnavailable(f"CleverTap {route}: answered 200 with a body that is not JSON") from None
