"""A strict simulator of the Batch.com Custom Data API 1.0, written from the vendor page
(https://doc.batch.com/api/custom-data-api/set-update/), not from our client.

Also home of the Batch bits the Custom Audience simulator shares: authentication, the error table and
body, strict JSON bodies, attribute names and typed values (dates, URLs).
"""

from __future__ import annotations

import copy
import hmac
import re
import uuid
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Mapping, NamedTuple

from usersync_dev.simulators.server import UNKNOWN_ROUTE, Request, Response, VendorSimulator, media_type, parse_json

MAX_BULK_USERS = 10_000
MAX_BULK_DELETE_IDS = 10_000
MAX_NAME_LENGTH = 30  # attribute and tag names
MAX_URL_LENGTH = 2048

# error name -> (HTTP status, Batch error code), from the vendor page
ERRORS = {
    "AUTHENTICATION_INVALID": (401, 10),
    "API_MISUSE": (403, 12),
    "ROUTE_NOT_FOUND": (404, 20),
    "MISSING_PARAMETER": (400, 30),
    "MALFORMED_PARAMETER": (400, 31),
    "MALFORMED_JSON_BODY": (400, 32),
    "SERVER_ERROR": (500, 1),
    "MAINTENANCE_ERROR": (503, 2),
}

NAME = rf"[a-z0-9_]{{1,{MAX_NAME_LENGTH}}}"
DATE_STRING = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?")  # YYYY-MM-ddTHH:mm:ss[.sss]
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")  # a scheme, then ://
_DATA_KEY = re.compile(rf"(?P<scope>ut?)\.(?P<name>{NAME})|(?P<wrapper>date|url)\(u\.(?P<wrapped>{NAME})\)")
_KEY_HELP = "use u.<name>, ut.<name>, date(u.<name>) or url(u.<name>), <name> being 1 to 30 of [a-z0-9_]"


class BatchError(Exception):
    """A request the Batch API refuses; `message` must be actionable and never hold a key."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message

    def response(self) -> Response:
        status, code = ERRORS[self.error]
        return Response(status, {"error_code": code, "error": self.error, "error_message": self.message})


def malformed(message: str) -> BatchError:
    return BatchError("MALFORMED_PARAMETER", message)


def read_json_body(request: Request) -> Any:
    if media_type(request)[0] != "application/json":
        raise BatchError("MALFORMED_JSON_BODY", "Content-Type must be application/json")
    try:
        return parse_json(request.body)
    except ValueError as error:
        raise BatchError("MALFORMED_JSON_BODY", f"the body is not valid UTF-8 JSON: {error}") from None


def check_strings(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise malformed(f"{where}: expected an array of strings")
    return values


def attribute_value(wrapper: str | None, value: Any, where: str) -> tuple[str, Any]:
    """(type, stored value) of a non-null attribute value; `wrapper` is "date", "url" or None."""
    if wrapper == "date":
        return "date", _date(value, where)
    if wrapper == "url":
        if not isinstance(value, str) or len(value) > MAX_URL_LENGTH or not URL.fullmatch(value):
            raise malformed(f"{where}: a url() value is a string of at most {MAX_URL_LENGTH} characters "
                            "with a scheme followed by :// (e.g. https://... or myapp://...)")
        return "url", value
    # bool first: in Python a bool is also an int
    for python_type, type_name in ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string")):
        if isinstance(value, python_type):
            return type_name, value
    raise malformed(f"{where}: an attribute value is a string, integer, float or boolean "
                    "(wrap dates in date() and URLs in url())")


def _date(value: Any, where: str) -> str:
    """The date as a UTC `YYYY-MM-DDTHH:MM:SS` string, from epoch seconds or the documented string format."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, tz=timezone.utc)
        elif isinstance(value, str) and DATE_STRING.fullmatch(value):
            moment = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise malformed(f"{where}: a date() value is integer epoch seconds or a UTC string "
                        "YYYY-MM-ddTHH:mm:ss with an optional .sss fraction, no time zone") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class BatchApiSimulator(VendorSimulator):
    """What every Batch API route shares: the app API key in the path, the REST key header, the error body."""

    def __init__(self, rest_api_key: str, app_api_keys: Mapping[str, str], port: int = 0) -> None:
        super().__init__(port)
        self._rest_api_key = rest_api_key
        self._apps = dict(app_api_keys)  # app API key -> app name

    def handle(self, request: Request) -> Response:
        try:
            if request.route == UNKNOWN_ROUTE:
                # the path is not echoed: it holds the app API key
                raise BatchError("ROUTE_NOT_FOUND", f"no {request.method} route at this path")
            given = request.headers.get("X-Authorization", "").encode()
            if not hmac.compare_digest(given, self._rest_api_key.encode()):
                raise BatchError("AUTHENTICATION_INVALID",
                                 "missing or invalid X-Authorization header: send the company REST API key")
            app = self._apps.get(request.params["api_key"])
            if app is None:
                raise BatchError("AUTHENTICATION_INVALID", "unknown app API key in the URL path")
            return self.handle_app(request, app)
        except BatchError as error:
            return error.response()

    def handle_app(self, request: Request, app: str) -> Response:
        """Serve an authenticated request for `app` (the app's name)."""
        raise NotImplementedError

    def fault_body(self, status: int) -> Any:
        for error, (error_status, code) in ERRORS.items():
            if error_status == status:
                return {"error_code": code, "error": error, "error_message": "simulated fault"}
        # not in Batch's table (e.g. 429, 502): same shape, the HTTP status as code
        return {"error_code": status, "error": HTTPStatus(status).name, "error_message": "simulated fault"}


class BatchCustomDataSimulator(BatchApiSimulator):
    """Custom Data API 1.0: attributes and tags of custom user ids, one app (API key) per platform."""

    ROUTES = (
        ("POST", r"/1\.0/(?P<api_key>[^/]+)/data/users/(?P<custom_id>[^/]+)", "data.single"),
        ("POST", r"/1\.0/(?P<api_key>[^/]+)/data/users", "data.bulk"),
        ("DELETE", r"/1\.0/(?P<api_key>[^/]+)/data/users/(?P<custom_id>[^/]+)", "data.delete"),
        ("DELETE", r"/1\.0/(?P<api_key>[^/]+)/data/users", "data.bulk_delete"),
    )

    def __init__(self, rest_api_key: str, app_api_keys: Mapping[str, str], port: int = 0) -> None:
        super().__init__(rest_api_key, app_api_keys, port)
        self.clear_state()

    def clear_state(self) -> None:
        self._profiles: dict[str, dict[str, dict]] = {}  # app -> custom id -> profile (tags as sets)
        self._tokens: list[dict] = []
        self._refused: set[str] = set()

    def refuse_attribute(self, name: str) -> None:
        """Until reset, answer MALFORMED_PARAMETER to a call that sets attribute `name`: a rule of
        the app's own, which no client can check before sending (for tests of bisecting)."""
        with self._state_lock:
            self._refused.add(name)

    # -- what tests assert on --------------------------------------------------------------------

    def profile(self, app_name: str, custom_id: str) -> dict | None:
        """{"attributes", "attribute_types", "tags" (sorted lists)} of a user, None without custom data."""
        with self._state_lock:
            profile = self._profiles.get(app_name, {}).get(custom_id)
            if profile is None:
                return None
            return {
                "attributes": copy.deepcopy(profile["attributes"]),
                "attribute_types": dict(profile["attribute_types"]),
                "tags": {name: sorted(values) for name, values in profile["tags"].items()},
            }

    def users_count(self, app_name: str) -> int:
        with self._state_lock:
            return len(self._profiles.get(app_name, {}))

    @property
    def tokens(self) -> list[dict]:
        """One {"token", "app", "route", "users"} per accepted call, in order."""
        with self._state_lock:
            return [dict(token) for token in self._tokens]

    # -- the API ---------------------------------------------------------------------------------

    def handle_app(self, request: Request, app: str) -> Response:
        profiles = self._profiles.setdefault(app, {})
        if request.route == "data.single":
            custom_id = request.params["custom_id"]
            updates = [_parse_update(custom_id, read_json_body(request), f"user {custom_id!r}", set())]
        elif request.route == "data.bulk":
            updates = _parse_bulk(read_json_body(request))
        elif request.route == "data.delete":
            updates = [(request.params["custom_id"], None)]
        else:
            updates = [(custom_id, None) for custom_id in _parse_delete_ids(read_json_body(request))]
        for custom_id, update in updates:
            for operation in update.operations if update else ():
                if operation.name in self._refused:
                    raise malformed(f"user {custom_id!r}: this app refuses attribute {operation.name!r}")
        # everything was validated above: a call is accepted or rejected as a whole
        for custom_id, update in updates:
            profile = _apply(profiles.get(custom_id), update) if update else None
            if profile:
                profiles[custom_id] = profile
            else:
                profiles.pop(custom_id, None)
        token = str(uuid.uuid4())
        self._tokens.append({"token": token, "app": app, "route": request.route, "users": len(updates)})
        return Response(200, {"token": token}, items=len(updates))


class _Operation(NamedTuple):
    scope: str  # "u": an attribute, "ut": a tag collection
    name: str
    type: str | None  # the attribute's type; None for tags and removals
    value: Any  # None removes; tags: a set (replace) or {"$add"?: set, "$remove"?: set}


class _Update(NamedTuple):
    overwrite: bool
    operations: list[_Operation]


def _parse_bulk(body: Any) -> list[tuple[str, _Update]]:
    if not isinstance(body, list):
        raise malformed("a bulk update body is a JSON array of {\"id\", \"update\"} objects")
    if not body:
        raise BatchError("MISSING_PARAMETER", "the bulk update array is empty")
    if len(body) > MAX_BULK_USERS:
        raise malformed(f"a bulk update holds at most {MAX_BULK_USERS} users, got {len(body)}")
    used: dict[str, set] = {}  # custom id -> names already touched in this call
    updates = []
    for index, item in enumerate(body):
        where = f"users[{index}]"
        if not isinstance(item, dict):
            raise malformed(f"{where}: expected an object {{\"id\", \"update\"}}")
        if unknown := item.keys() - {"id", "update"}:
            raise malformed(f"{where}: unknown fields {sorted(unknown)}")
        if "id" not in item:
            raise BatchError("MISSING_PARAMETER", f"{where}: 'id' is required")
        custom_id = item["id"]
        if not isinstance(custom_id, str) or not custom_id:
            raise malformed(f"{where}: 'id' must be a non-empty string")
        where = f"{where} (id {custom_id!r})"
        if "update" not in item:
            raise BatchError("MISSING_PARAMETER", f"{where}: 'update' is required")
        updates.append(_parse_update(custom_id, item["update"], where, used.setdefault(custom_id, set())))
    return updates


def _parse_update(custom_id: str, update: Any, where: str, used: set) -> tuple[str, _Update]:
    """Validate one user's update; `used` holds the (scope, name) pairs this user already touched in the call."""
    if not isinstance(update, dict):
        raise malformed(f"{where}: the update must be an object {{\"overwrite\"?, \"values\"}}")
    if unknown := update.keys() - {"overwrite", "values"}:
        raise malformed(f"{where}: unknown fields {sorted(unknown)}")
    if "values" not in update:
        raise BatchError("MISSING_PARAMETER", f"{where}: 'values' is required")
    overwrite, values = update.get("overwrite", False), update["values"]
    if not isinstance(overwrite, bool):
        raise malformed(f"{where}: 'overwrite' must be a boolean")
    if not isinstance(values, dict):
        raise malformed(f"{where}: 'values' must be an object")
    operations = []
    for key, value in values.items():
        operation = _parse_operation(key, value, f"{where}, key {key!r}")
        if (operation.scope, operation.name) in used:
            raise malformed(f"{where}, key {key!r}: only one operation per attribute or tag name "
                            "is allowed in one call")
        used.add((operation.scope, operation.name))
        operations.append(operation)
    return custom_id, _Update(overwrite, operations)


def _parse_operation(key: str, value: Any, where: str) -> _Operation:
    match = _DATA_KEY.fullmatch(key)
    if match is None:
        raise malformed(f"{where}: not a valid key: {_KEY_HELP} (no uppercase)")
    if match["scope"] == "ut":
        return _Operation("ut", match["name"], None, _tag_operation(value, where))
    name = match["name"] or match["wrapped"]
    if value is None:
        return _Operation("u", name, None, None)
    return _Operation("u", name, *attribute_value(match["wrapper"], value, where))


def _tag_operation(value: Any, where: str) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return set(check_strings(value, where))
    if isinstance(value, dict) and value and value.keys() <= {"$add", "$remove"}:
        return {op: set(check_strings(values, f"{where}, {op}")) for op, values in value.items()}
    raise malformed(f"{where}: a tag operation is null, an array of strings, "
                    "or an object with $add and/or $remove arrays of strings")


def _apply(profile: dict | None, update: _Update) -> dict | None:
    """The user's profile after `update`; None when no custom data is left."""
    # overwrite starts from nothing, which is why the page says $add fills an empty collection
    # and $remove has no effect
    if profile is None or update.overwrite:
        profile = {"attributes": {}, "attribute_types": {}, "tags": {}}
    for scope, name, type_name, value in update.operations:
        if scope == "u" and value is None:
            profile["attributes"].pop(name, None)
            profile["attribute_types"].pop(name, None)
        elif scope == "u":
            profile["attributes"][name] = value
            profile["attribute_types"][name] = type_name
        else:
            if isinstance(value, dict):
                value = (profile["tags"].get(name, set()) | value.get("$add", set())) - value.get("$remove", set())
            if value:
                profile["tags"][name] = value
            else:  # null, [] or everything removed: the collection is gone
                profile["tags"].pop(name, None)
    return profile if profile["attributes"] or profile["tags"] else None


def _parse_delete_ids(body: Any) -> list[str]:
    if not isinstance(body, list) or not all(isinstance(custom_id, str) and custom_id for custom_id in body):
        raise malformed("a bulk delete body is a JSON array of non-empty custom id strings")
    if not body:
        raise BatchError("MISSING_PARAMETER", "the bulk delete array is empty")
    if len(body) > MAX_BULK_DELETE_IDS:
        raise malformed(f"a bulk delete holds at most {MAX_BULK_DELETE_IDS} ids, got {len(body)}")
    return body
