"""A strict simulator of Batch's Profile API (Customer Engagement Platform), written from the vendor pages
(https://doc.batch.com/developer/api/cep/profiles, .../profiles/update, .../profiles/mass-update; what
each rule rests on is in docs/vendors/batch-profile.md), not from our client.

- `POST /2.x/profiles/update`: at most 200 profiles a call, applied when answered;
- `POST /2.x/profiles/mass-update`: at most 10,000 a call, answered 202 and applied later: a call is
  applied once `apply_after_s` has passed, at the next request or state read (0: at the next one), or
  when a test calls `apply_pending()` (`apply_after_s=None`: only then). No thread: tests drive it.
- Both meter profiles per second per project with a token bucket (update: 300 a second, bursts to
  1,000; mass-update: 10,000 a second, no burst) and answer 429 past it, without a Retry-After.
- 202 `{"code": "SUCCESS"}`, or `{"code": "SUCCESS_WITH_PARTIAL_ERRORS", "errors": [...]}` naming each
  refused attribute by the profile's position (`bulk_index`): the profile's other attributes are applied.
- A call Batch cannot read at all is refused whole: `{"error_code": NAME, "error_message": ...}`.

Events are accepted and not kept: this simulator is about profiles.
"""

from __future__ import annotations

import copy
import hmac
import re
import time
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from usersync_dev.simulators.server import UNKNOWN_ROUTE, Request, Response, VendorSimulator, media_type, parse_json

UPDATE, MASS_UPDATE = "profiles.update", "profiles.mass_update"
MAX_PROFILES = {UPDATE: 200, MASS_UPDATE: 10_000}  # "at most N operations or the API call will be rejected"
RATES = {UPDATE: (300, 1_000), MASS_UPDATE: (10_000, 10_000)}  # (updates a second, bucket size); mass: no burst
ITEM_KEYS = {"identifiers", "attributes", "events"}
NAME = r"[a-z0-9_]{1,30}"
ATTRIBUTE_KEY = re.compile(rf"(?P<wrapper>date|url)\((?P<wrapped>{NAME})\)|(?P<name>{NAME})")
MAX_STRING = 300  # "cannot be empty or over 300 characters"
MAX_ARRAY = 25
MAX_URL = 2048
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")  # ISO-8601, with its zone
SUBSCRIPTION = ("subscribed", "unsubscribed")
NATIVE = {
    "$email_address": (lambda v: re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v), "an email address"),
    "$email_marketing": (lambda v: v in SUBSCRIPTION, "subscribed or unsubscribed"),
    "$phone_number": (lambda v: re.fullmatch(r"\+[1-9][0-9]{1,14}", v), "an E.164 phone number"),
    "$sms_marketing": (lambda v: v in SUBSCRIPTION, "subscribed or unsubscribed"),
    "$language": (lambda v: re.fullmatch(r"[a-z]{2}", v), "an ISO 639-1 language code"),
    "$region": (lambda v: re.fullmatch(r"[A-Z]{2}", v), "an ISO 3166-1 alpha-2 region code"),
    "$timezone": (lambda v: v in zoneinfo.available_timezones(), "an IANA time zone name"),
}
ERRORS = {  # error name -> HTTP status
    "AUTHENTICATION_INVALID": 401, "API_MISUSE": 403, "ROUTE_NOT_FOUND": 404, "MISSING_PARAMETER": 400,
    "MALFORMED_PARAMETER": 400, "MALFORMED_JSON_BODY": 400, "TOO_MANY_REQUESTS": 429, "SERVER_ERROR": 500,
    "MAINTENANCE_ERROR": 503,
}


class ProfileError(Exception):
    """A call refused whole; the message must be actionable and never hold a key."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error, self.message = error, message

    def response(self) -> Response:
        return Response(ERRORS[self.error], {"error_code": self.error, "error_message": self.message})


class Refused(Exception):
    """One attribute of one profile refused (a partial error)."""


@dataclass
class _Bucket:
    rate: float
    size: float
    tokens: float
    at: float

    def take(self, count: int, now: float) -> bool:
        self.tokens, self.at = min(self.size, self.tokens + (now - self.at) * self.rate), now
        if count > self.tokens:
            return False
        self.tokens -= count
        return True


@dataclass
class _Job:
    """An accepted mass-update call, applied later."""
    project: str
    accepted_at: float
    updates: list[tuple[str, dict[str, Any]]]
    receipt: dict[str, Any] = field(default_factory=dict)


class BatchProfileSimulator(VendorSimulator):
    """The Profile API for some projects (project key -> its profiles), one REST key for all."""

    ROUTES = (
        ("POST", r"/2\.\d+/profiles/update", UPDATE),
        ("POST", r"/2\.\d+/profiles/mass-update", MASS_UPDATE),
    )

    def __init__(self, rest_api_key: str, projects: Iterable[str], *, apply_after_s: float | None = 0.0,
                 rate_limited: bool = True, clock: Callable[[], float] = time.monotonic, port: int = 0) -> None:
        super().__init__(port)
        self._rest_api_key, self._projects = rest_api_key, set(projects)
        self.apply_after_s, self.rate_limited, self._clock = apply_after_s, rate_limited, clock
        self.clear_state()

    def clear_state(self) -> None:
        self._profiles: dict[str, dict[str, dict[str, Any]]] = {}  # project -> custom id -> {attributes, types}
        self._jobs: list[_Job] = []
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._receipts: list[dict[str, Any]] = []

    # -- what tests assert on --------------------------------------------------------------------

    def profile(self, project: str, custom_id: str) -> dict[str, Any] | None:
        """{"attributes", "types"} of a profile as Batch holds it now (arrays sorted), None if it has none.
        Reading it is a query: mass-updates due by then are applied first."""
        with self._state_lock:
            self._apply_due()
            found = self._profiles.get(project, {}).get(custom_id)
            return copy.deepcopy(found)

    def apply_pending(self) -> int:
        """Apply every accepted mass-update now; returns how many calls that was."""
        with self._state_lock:
            jobs, self._jobs = self._jobs, []
            for job in jobs:
                self._apply_job(job)
            return len(jobs)

    @property
    def pending(self) -> int:
        """Mass-update calls accepted and not applied yet."""
        with self._state_lock:
            return len(self._jobs)

    @property
    def receipts(self) -> list[dict[str, Any]]:
        """One {"project", "route", "profiles", "applied"} per call answered 202, in order."""
        with self._state_lock:
            self._apply_due()
            return [dict(receipt) for receipt in self._receipts]

    # -- the API ---------------------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        name = next((error for error, error_status in ERRORS.items() if error_status == status), None)
        return {"error_code": name or HTTPStatus(status).name, "error_message": "simulated fault"}

    def handle(self, request: Request) -> Response:
        self._apply_due()
        try:
            if request.route == UNKNOWN_ROUTE:
                raise ProfileError("ROUTE_NOT_FOUND", f"no {request.method} route at this path")
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or not hmac.compare_digest(given.encode(), self._rest_api_key.encode()):
                raise ProfileError("AUTHENTICATION_INVALID",
                                   "missing or invalid Authorization header: send Bearer <REST API key>")
            project = request.headers.get("X-Batch-Project", "")
            if project not in self._projects:
                raise ProfileError("AUTHENTICATION_INVALID", "missing or unknown X-Batch-Project project key")
            items = self._read_items(request)
            if self.rate_limited and not self._bucket(project, request.route).take(len(items), self._clock()):
                raise ProfileError("TOO_MANY_REQUESTS", "rate limit exceeded: wait a few seconds before retrying")
            return self._accept(project, request.route, items)
        except ProfileError as error:
            return error.response()

    def _read_items(self, request: Request) -> list[tuple[str, dict[str, Any]]]:
        """(custom id, attributes) of each profile of a call Batch can read; else the whole call is refused."""
        if media_type(request)[0] != "application/json":
            raise ProfileError("MALFORMED_JSON_BODY", "Content-Type must be application/json")
        try:
            body = parse_json(request.body)
        except ValueError as error:
            raise ProfileError("MALFORMED_JSON_BODY", f"the body is not valid UTF-8 JSON: {error}") from None
        limit = MAX_PROFILES[request.route]
        if not isinstance(body, list):
            raise ProfileError("MALFORMED_PARAMETER", "the body is a JSON array of profile updates")
        if not body:
            raise ProfileError("MISSING_PARAMETER", "the array of profile updates is empty")
        if len(body) > limit:
            raise ProfileError("MALFORMED_PARAMETER", f"at most {limit} profile updates per call, got {len(body)}")
        items, seen = [], set()
        for index, item in enumerate(body):
            where = f"[{index}]"
            if not isinstance(item, dict):
                raise ProfileError("MALFORMED_PARAMETER", f"{where}: a profile update is an object")
            if unknown := item.keys() - ITEM_KEYS:
                raise ProfileError("MALFORMED_PARAMETER", f"{where}: unknown fields {sorted(unknown)}")
            custom_id = _custom_id(item.get("identifiers"), where)
            if custom_id in seen:  # not on the page; one update per profile per call keeps the order certain
                raise ProfileError("MALFORMED_PARAMETER", f"{where}: custom_id {custom_id!r} appears twice in the call")
            seen.add(custom_id)
            attributes = item.get("attributes", {})
            if not isinstance(attributes, dict):
                raise ProfileError("MALFORMED_PARAMETER", f"{where}: attributes is an object")
            if not isinstance(item.get("events", []), list):
                raise ProfileError("MALFORMED_PARAMETER", f"{where}: events is an array")
            items.append((custom_id, attributes))
        return items

    def _accept(self, project: str, route: str, items: list[tuple[str, dict[str, Any]]]) -> Response:
        """Refuse what breaks an attribute's rule, profile by profile; apply (or queue) the rest."""
        errors, updates = [], []
        for index, (custom_id, attributes) in enumerate(items):
            # checked against the profile as applied so far (a queued mass-update is not applied yet)
            held = self._profiles.get(project, {}).get(custom_id, {}).get("attributes", {})
            valid, refused = _check_attributes(attributes, held)
            errors += [{"category": "attribute", "bulk_index": index, "attribute": key, "reason": reason}
                       for key, reason in refused]
            updates.append((custom_id, valid))
        receipt = {"project": project, "route": route, "profiles": len(items), "applied": False}
        self._receipts.append(receipt)
        job = _Job(project, self._clock(), updates, receipt)
        if route == MASS_UPDATE:
            self._jobs.append(job)
            self._apply_due()
        else:
            self._apply_job(job)
        body: dict[str, Any] = {"code": "SUCCESS_WITH_PARTIAL_ERRORS", "errors": errors} if errors else {"code": "SUCCESS"}
        return Response(202, body, items=len(items))

    def _bucket(self, project: str, route: str) -> _Bucket:
        rate, size = RATES[route]
        return self._buckets.setdefault((project, route), _Bucket(rate, size, size, self._clock()))

    def _apply_due(self) -> None:
        if self.apply_after_s is None:
            return
        now = self._clock()
        while self._jobs and now - self._jobs[0].accepted_at >= self.apply_after_s:
            self._apply_job(self._jobs.pop(0))

    def _apply_job(self, job: _Job) -> None:
        profiles = self._profiles.setdefault(job.project, {})
        for custom_id, attributes in job.updates:
            profile = profiles.setdefault(custom_id, {"attributes": {}, "types": {}})  # created on first update
            for name, (kind, value) in attributes.items():
                if value is None:
                    profile["attributes"].pop(name, None)
                    profile["types"].pop(name, None)
                elif kind == "edit":
                    kept = (set(profile["attributes"].get(name, [])) | set(value.get("$add", []))) - set(value.get("$remove", []))
                    profile["attributes"][name], profile["types"][name] = sorted(kept), "array"
                    if not kept:
                        profile["attributes"].pop(name), profile["types"].pop(name)
                else:
                    profile["attributes"][name], profile["types"][name] = value, kind
        job.receipt["applied"] = True


def _custom_id(identifiers: Any, where: str) -> str:
    if not isinstance(identifiers, dict):
        raise ProfileError("MISSING_PARAMETER", f"{where}: identifiers (an object) is required")
    if len({"custom_id", "installation"} & identifiers.keys()) != 1 or identifiers.keys() - {"custom_id", "installation"}:
        raise ProfileError("MALFORMED_PARAMETER", f"{where}: identifiers holds exactly one of custom_id or installation")
    if "installation" in identifiers:
        raise ProfileError("MALFORMED_PARAMETER", f"{where}: installation identifiers are not simulated: use custom_id")
    custom_id = identifiers["custom_id"]
    if not isinstance(custom_id, str) or not custom_id:
        raise ProfileError("MALFORMED_PARAMETER", f"{where}: custom_id is a non-empty string")
    return custom_id


def _check_attributes(attributes: dict[str, Any], held: dict[str, Any]) -> tuple[dict, list]:
    """({name: (kind, value)} to apply, [(key, reason)] refused) of one profile's attributes object;
    `held`: the profile's attributes now."""
    valid: dict[str, tuple[str, Any]] = {}
    refused: list[tuple[str, str]] = []
    for key, value in attributes.items():
        try:
            name, kind, stored = _attribute(key, value, held)
            if name in valid:
                raise Refused(f"{name} is set twice in this profile update")
            valid[name] = (kind, stored)
        except Refused as reason:
            refused.append((key, str(reason)))
    return valid, refused


def _attribute(key: str, value: Any, held: dict[str, Any]) -> tuple[str, str, Any]:
    """(name, kind, value) of one entry of the attributes object; value None deletes the attribute."""
    if key.startswith("$"):
        if key not in NATIVE:
            raise Refused(f"unknown native attribute; native attributes are {', '.join(NATIVE)}")
        check, expected = NATIVE[key]
        if value is not None and not (isinstance(value, str) and check(value)):
            raise Refused(f"{key} must be {expected} (or null)")
        return key, "native", value
    match = ATTRIBUTE_KEY.fullmatch(key)
    if match is None:
        raise Refused("attribute names are 1 to 30 of [a-z0-9_], maybe wrapped in date() or url()")
    if match["wrapper"] == "date":
        if not isinstance(value, str) or not DATE.fullmatch(value):
            raise Refused("a date() value is an ISO-8601 string with its time zone (1989-07-20T00:00:00Z)")
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        return match["wrapped"], "date", moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if match["wrapper"] == "url":
        if not isinstance(value, str) or len(value) > MAX_URL or not URL.fullmatch(value):
            raise Refused(f"a url() value has a scheme, :// and at most {MAX_URL} characters")
        return match["wrapped"], "url", value
    name = match["name"]
    if value is None:
        return name, "deleted", None
    for python_type, kind in ((bool, "boolean"), (int, "integer"), (float, "float")):  # bool first: it is an int
        if isinstance(value, python_type):
            return name, kind, value
    if isinstance(value, str):
        return name, "string", _string(value)
    if isinstance(value, list):
        if len(value) > MAX_ARRAY:
            raise Refused(f"a string array holds at most {MAX_ARRAY} strings")
        values = sorted({_string(item) for item in value})
        return name, "array", values or None
    if isinstance(value, dict) and value and value.keys() <= {"$add", "$remove"}:
        for verb, items in value.items():
            if not isinstance(items, list):
                raise Refused(f"{verb} takes an array of strings")
            for item in items:
                _string(item)
        if name in held and not isinstance(held[name], list):
            raise Refused(f"{name} is not a string array: $add and $remove edit arrays")
        after = (set(held.get(name, [])) | set(value.get("$add", []))) - set(value.get("$remove", []))
        if len(after) > MAX_ARRAY:
            raise Refused(f"a string array holds at most {MAX_ARRAY} strings")
        return name, "edit", value
    raise Refused("a value is a string, number, boolean, null, an array of strings or {$add, $remove}")


def _string(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_STRING:
        raise Refused(f"a string cannot be empty or over {MAX_STRING} characters")
    return value
