"""A strict simulator of CleverTap's Upload User Profiles API (`POST /1/upload`), written from the vendor page
(https://developer.clevertap.com/docs/upload-user-profiles-api).

Like CleverTap it answers 200 even when records fail, listing each failed record with a code and a reason.
"""

from __future__ import annotations

import copy
import hmac
import re
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, Iterator, Mapping

from usersync_dev.simulators.server import UNKNOWN_ROUTE, Request, Response, VendorSimulator, media_type, parse_json

DEFAULT_MAX_RECORDS = 1_000  # current docs; the copied page says 100
DEFAULT_MAX_CONCURRENCY = 15  # concurrent calls per account
MAX_KEY_BYTES = 120
MAX_VALUE_BYTES = 512
MAX_CUSTOM_KEYS = 256  # distinct custom profile keys per account
MAX_DELETE_IDS = 100  # identities (or guids) per delete call
MAX_EPOCH_SECONDS = 9_999_999_999  # a larger ts is almost surely milliseconds
REGIONS = ("eu1", "in1", "sg1", "us1", "aps3", "mec1")
DEFAULT_REGION = "eu1"  # api.clevertap.com, served at /1/upload

# per-record error codes ("unprocessed" entries)
CODE_INVALID_RECORD = 509  # the record's shape or an operator: the page's list has no finer code
CODE_LIMIT = 512  # key or value too long, too many custom keys
CODE_GENDER = 514
CODE_EMAIL = 515
CODE_PHONE = 516
CODE_EMPLOYED = 517
CODE_EDUCATION = 518
CODE_MARRIED = 519
CODE_AGE = 520
CODE_IDENTITY = 523
CODE_TYPE = 524
CODE_TIMESTAMP = 525
CODE_OBJECT_ID = 526

IDENTIFIERS = ("identity", "objectId", "FBID", "GPID")
RECORD_KEYS = {"profile": {*IDENTIFIERS, "type", "ts", "profileData"},
               "event": {*IDENTIFIERS, "type", "ts", "evtName", "evtData"}}
OBJECT_ID = re.compile(r"(__[a-z])?[0-9a-f]{32}")  # CleverTap global ids, e.g. 25b08803c1af4e00839f530264dac6f8
PHONE = re.compile(r"\+[1-9][0-9]{5,14}")  # +<country code><number>
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DATE = re.compile(r"\$D_-?[0-9]+")  # $D_<epoch seconds>
DELETABLE_KEYS = {"Name", "Gender"}  # "$delete applicable only to name and gender fields"
SUBSCRIPTION_KEYS = {"category-unsubscribe", "category-resubscribe"}  # {channel: [groups]} objects
STANDARD_KEYS = {"Name", "Email", "Phone", "Gender", "Employed", "Education", "Married", "Age", "DOB",
                 "Photo", *SUBSCRIPTION_KEYS}  # and every MSG-* key; all others are custom keys
_NUMBER = (int, float)

# standard key -> (code, check, what a valid value looks like)
FIELD_RULES = {
    "Gender": (CODE_GENDER, lambda v: v in ("M", "F", "O"), "M, F or O"),
    "Email": (CODE_EMAIL, lambda v: isinstance(v, str) and EMAIL.fullmatch(v), "an email address"),
    "Phone": (CODE_PHONE, lambda v: isinstance(v, str) and PHONE.fullmatch(v), "+<country code><number>"),
    "Employed": (CODE_EMPLOYED, lambda v: v in ("Y", "N"), "Y or N"),
    "Education": (CODE_EDUCATION, lambda v: v in ("School", "College", "Graduate"), "School, College or Graduate"),
    "Married": (CODE_MARRIED, lambda v: v in ("Y", "N"), "Y or N"),
    "Age": (CODE_AGE, lambda v: isinstance(v, _NUMBER) and not isinstance(v, bool), "a number"),
}


class Unprocessed(Exception):
    def __init__(self, code: int, error: str) -> None:
        super().__init__(error)
        self.code = code
        self.error = error


def _fail(status: int, error: str) -> Response:
    return Response(status, {"status": "fail", "error": error, "code": status})


class CleverTapSimulator(VendorSimulator):
    """Upload User Profiles for some accounts, each in its own region; `?dryRun=1` validates only."""

    ROUTES = (
        ("POST", rf"/(?P<region>{'|'.join(REGIONS)})/1/upload", "upload"),
        ("POST", r"/1/upload", "upload"),  # api.clevertap.com: eu1
        # https://developer.clevertap.com/docs/delete-user-profile-api
        ("POST", rf"/(?P<region>{'|'.join(REGIONS)})/1/delete/profiles\.json", "delete"),
        ("POST", r"/1/delete/profiles\.json", "delete"),
    )

    def __init__(self, accounts: Mapping[str, tuple[str, str]], max_records: int = DEFAULT_MAX_RECORDS,
                 max_concurrency: int = DEFAULT_MAX_CONCURRENCY, port: int = 0) -> None:
        super().__init__(port)
        self._accounts = dict(accounts)  # account id -> (passcode, region)
        self.max_records = max_records
        self.max_concurrency = max_concurrency
        self._in_flight: dict[str, int] = {}
        self.clear_state()

    def clear_state(self) -> None:
        self._profiles: dict[str, dict[tuple[str, str], dict]] = {}  # account -> (id kind, id) -> profile
        self._custom_keys: dict[str, set[str]] = {}
        self._uploads = 0
        self.deleted: list[tuple[str, str, str]] = []  # (account, identity or guid, value), in order

    # -- what tests assert on --------------------------------------------------------------------

    def profile(self, account_id: str, identity: str, kind: str = "identity") -> dict | None:
        """The profile properties; multi-value properties as sorted lists, dates as "$D_..." strings."""
        with self._state_lock:
            return copy.deepcopy(self._profiles.get(account_id, {}).get((kind, identity)))

    def custom_keys(self, account_id: str) -> set[str]:
        with self._state_lock:
            return set(self._custom_keys.get(account_id, set()))

    @property
    def uploads(self) -> int:
        """Upload calls answered 200, dry runs excluded."""
        with self._state_lock:
            return self._uploads

    # -- the API ---------------------------------------------------------------------------------

    @contextmanager
    def admit(self, request: Request) -> Iterator[Response | None]:
        account = request.headers.get("X-CleverTap-Account-Id", "")
        with self._lock:
            busy = self._in_flight.get(account, 0) >= self.max_concurrency
            if not busy:
                self._in_flight[account] = self._in_flight.get(account, 0) + 1
        if busy:
            yield _fail(429, "Too many concurrent requests")  # no Retry-After: none is documented
            return
        try:
            yield None
        finally:
            with self._lock:
                self._in_flight[account] -= 1

    def fault_body(self, status: int) -> Any:
        return {"status": "fail", "error": HTTPStatus(status).phrase, "code": status}

    def handle(self, request: Request) -> Response:
        if request.route == UNKNOWN_ROUTE:
            return _fail(404, "Not Found")
        account = request.headers.get("X-CleverTap-Account-Id", "")
        passcode, region = self._accounts.get(account, ("", ""))
        given = request.headers.get("X-CleverTap-Passcode", "").encode()
        # an account called in another region than its own fails like bad credentials, as CleverTap does
        if not passcode or not hmac.compare_digest(given, passcode.encode()) or \
                region != request.params.get("region", DEFAULT_REGION):
            return _fail(401, "Invalid Credentials")
        content_type, params = media_type(request)
        if content_type != "application/json" or params.get("charset", "utf-8").lower() != "utf-8":
            return _fail(400, "Content-Type must be application/json; charset=utf-8")
        try:
            body = parse_json(request.body)
        except ValueError as error:
            return _fail(400, f"the body is not valid UTF-8 JSON: {error}")
        if request.route == "delete":
            return self._delete(account, body)
        records = body.get("d") if isinstance(body, dict) and body.keys() == {"d"} else None
        if not isinstance(records, list) or not 1 <= len(records) <= self.max_records:
            return _fail(400, f'the body must be {{"d": [...]}} with 1 to {self.max_records} records')
        return self._upload(account, records, dry_run=request.query.get("dryRun") == "1")

    def _delete(self, account: str, body: Any) -> Response:
        """Delete User Profile: `identity` or `guid` (never both: 400), a string or at most 100 of them."""
        if not isinstance(body, dict) or not body.keys() <= {"identity", "guid"} or len(body) != 1:
            return _fail(400, 'the body holds "identity" or "guid" (not both), a string or an array of strings')
        ((kind, value),) = body.items()
        ids = _ids(value)
        if ids is None or len(ids) > MAX_DELETE_IDS:
            return _fail(400, f"{kind} must be a string or an array of 1 to {MAX_DELETE_IDS} strings")
        profiles = self._profiles.setdefault(account, {})
        for identity in ids:
            profiles.pop(("identity" if kind == "identity" else "objectId", identity), None)
        self.deleted.extend((account, kind, identity) for identity in ids)
        return Response(200, {"status": "success", "processed": len(ids)}, items=len(ids))

    def _upload(self, account: str, records: list, dry_run: bool) -> Response:
        profiles = self._profiles.setdefault(account, {})
        custom_keys = self._custom_keys.setdefault(account, set())
        unprocessed = []
        for record in records:  # in order: a record sees the effects of the ones before it
            try:
                target, data, new_keys = _check_record(record, profiles, custom_keys)
            except Unprocessed as failure:
                unprocessed.append({"status": "fail", "code": failure.code, "error": failure.error,
                                    "record": record})
                continue
            if not dry_run and target is not None:
                custom_keys |= new_keys
                profiles[target] = _apply(profiles.get(target, {}), data)
        processed = len(records) - len(unprocessed)
        if not dry_run:
            self._uploads += 1
        status = "success" if not unprocessed else "partial" if processed else "fail"
        return Response(200, {"status": status, "processed": processed, "unprocessed": unprocessed},
                        items=len(records))


def _ids(value: Any) -> list[str] | None:
    """A delete call's identity or guid: a string or an array of strings (None: neither)."""
    values = [value] if isinstance(value, str) else value
    if isinstance(values, list) and values and all(isinstance(v, str) and v for v in values):
        return values
    return None


def _check_record(record: Any, profiles: dict, custom_keys: set[str]) -> tuple[tuple | None, dict, set[str]]:
    """(profile key or None for an event, profileData, new custom keys) of a valid record; else Unprocessed."""
    if not isinstance(record, dict):
        raise Unprocessed(CODE_INVALID_RECORD, "a record is a JSON object")
    identifiers = [kind for kind in IDENTIFIERS if record.get(kind) not in (None, "")]
    if len(identifiers) != 1:
        raise Unprocessed(CODE_IDENTITY, f"exactly one of {', '.join(IDENTIFIERS)} is required, "
                                         f"got {identifiers or 'none'}")
    kind = identifiers[0]
    identity = record[kind]
    if not isinstance(identity, str):
        raise Unprocessed(CODE_IDENTITY, f"{kind} must be a string")
    if kind == "objectId" and not OBJECT_ID.fullmatch(identity):
        raise Unprocessed(CODE_OBJECT_ID, "objectId must be a CleverTap global id (32 hex characters)")
    record_type = record.get("type")
    if record_type not in RECORD_KEYS:
        raise Unprocessed(CODE_TYPE, f"type must be \"profile\" or \"event\", got {record_type!r}")
    if unknown := record.keys() - RECORD_KEYS[record_type]:
        raise Unprocessed(CODE_INVALID_RECORD, f"unknown keys in a {record_type} record: {sorted(unknown)}")
    ts = record.get("ts", 1)
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 < ts <= MAX_EPOCH_SECONDS:
        raise Unprocessed(CODE_TIMESTAMP, "ts must be a UNIX epoch in seconds (an integer)")
    if record_type == "event":  # events are accepted, not stored: this simulator is about profiles
        if not isinstance(record.get("evtName"), str) or not isinstance(record.get("evtData", {}), dict):
            raise Unprocessed(CODE_INVALID_RECORD, "an event needs evtName (string) and evtData (object)")
        return None, {}, set()
    data = record.get("profileData")
    if not isinstance(data, dict):
        raise Unprocessed(CODE_INVALID_RECORD, "profileData (an object) is required")
    current = profiles.get((kind, identity), {})
    for key, value in data.items():
        _check_property(key, value, current.get(key))
    new_keys = {key for key in data if key not in STANDARD_KEYS and not key.startswith("MSG-")} - custom_keys
    if len(custom_keys) + len(new_keys) > MAX_CUSTOM_KEYS:
        raise Unprocessed(CODE_LIMIT, f"the account would pass {MAX_CUSTOM_KEYS} custom profile keys "
                                      f"with {sorted(new_keys)}")
    return (kind, identity), data, new_keys


def _check_property(key: str, value: Any, current: Any) -> None:
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise Unprocessed(CODE_LIMIT, f"profile key {key[:40]!r} must be 1 to {MAX_KEY_BYTES} bytes")
    if isinstance(value, dict) and key in SUBSCRIPTION_KEYS:
        if not all(isinstance(groups, list) and all(isinstance(g, str) for g in groups) for groups in value.values()):
            raise Unprocessed(CODE_INVALID_RECORD, f"{key} is an object of channel -> [group names]")
        return
    if isinstance(value, dict):
        _check_operator(key, value, current)
        return
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and len(item.encode()) > MAX_VALUE_BYTES:
            raise Unprocessed(CODE_LIMIT, f"the value of {key!r} is longer than {MAX_VALUE_BYTES} bytes")
        if isinstance(item, str) and item.startswith("$D_") and not DATE.fullmatch(item):
            raise Unprocessed(CODE_INVALID_RECORD, f"the date in {key!r} must be \"$D_<epoch seconds>\"")
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise Unprocessed(CODE_INVALID_RECORD, f"the multi-value property {key!r} holds strings only")
    elif value is None:
        raise Unprocessed(CODE_INVALID_RECORD, f"{key!r} is null: leave it out, or use {{\"$delete\": 1}} "
                                               "(Name and Gender only)")
    elif not isinstance(value, (str, *_NUMBER)):
        raise Unprocessed(CODE_INVALID_RECORD, f"{key!r} must be a string, number, boolean or array")
    if key in FIELD_RULES:
        code, check, expected = FIELD_RULES[key]
        if not check(value):
            raise Unprocessed(code, f"{key} must be {expected}")
    if key.startswith("MSG-") and not isinstance(value, bool):
        raise Unprocessed(CODE_INVALID_RECORD, f"{key} must be a boolean")


def _check_operator(key: str, operation: dict, current: Any) -> None:
    if len(operation) != 1:
        raise Unprocessed(CODE_INVALID_RECORD, f"{key!r}: one operator per property, got {sorted(operation)}")
    ((operator, argument),) = operation.items()
    if operator in ("$add", "$remove"):
        if not isinstance(argument, list) or not all(isinstance(item, str) for item in argument):
            raise Unprocessed(CODE_INVALID_RECORD, f"{key!r}: {operator} takes an array of strings")
        if any(len(item.encode()) > MAX_VALUE_BYTES for item in argument):
            raise Unprocessed(CODE_LIMIT, f"a value of {key!r} is longer than {MAX_VALUE_BYTES} bytes")
        if current is not None and not isinstance(current, list):
            raise Unprocessed(CODE_INVALID_RECORD, f"{key!r} holds a single value, not a multi-value property")
    elif operator in ("$incr", "$decr"):
        if isinstance(argument, bool) or not isinstance(argument, _NUMBER):
            raise Unprocessed(CODE_INVALID_RECORD, f"{key!r}: {operator} takes a number")
        if isinstance(current, bool) or not isinstance(current, _NUMBER):
            raise Unprocessed(CODE_INVALID_RECORD, f"{key!r}: {operator} needs an existing numeric value; "
                                                   "set the property first")
    elif operator == "$delete":
        if key not in DELETABLE_KEYS:
            raise Unprocessed(CODE_INVALID_RECORD, f"{key!r}: $delete applies only to Name and Gender")
        if type(argument) is not int or argument != 1:
            raise Unprocessed(CODE_INVALID_RECORD, f"{key!r}: $delete takes 1")
    else:
        raise Unprocessed(CODE_INVALID_RECORD, f"{key!r}: unknown operator {operator!r}")


def _apply(profile: dict, data: dict) -> dict:
    """The profile after a checked profileData."""
    profile = dict(profile)
    for key, value in data.items():
        if isinstance(value, list):
            profile[key] = sorted(set(value))
        elif not isinstance(value, dict) or key in SUBSCRIPTION_KEYS:
            profile[key] = copy.deepcopy(value)
        elif "$delete" in value:
            profile.pop(key, None)
        elif "$incr" in value or "$decr" in value:
            profile[key] += value.get("$incr", 0) - value.get("$decr", 0)
        else:
            values = set(profile.get(key, []))
            values = values | set(value["$add"]) if "$add" in value else values - set(value["$remove"])
            if values:
                profile[key] = sorted(values)
            else:  # nothing left: the property is gone
                profile.pop(key, None)
    return profile
