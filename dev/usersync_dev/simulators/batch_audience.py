"""A strict simulator of the Batch.com Custom Audience API 1.1 (install ids), written from the vendor page
(https://doc.batch.com/developer/api/mep/custom-audience/1.1/update, and .../1.1/get for indexing tokens).

Authentication, errors and attribute values are shared with the Custom Data simulator
(`usersync_dev.simulators.batch`): the page says the same rules hold.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any, Mapping

from usersync_dev.simulators.batch import (
    MAX_NAME_LENGTH,
    BatchApiSimulator,
    BatchError,
    attribute_value,
    check_strings,
    malformed,
    read_json_body,
)
from usersync_dev.simulators.server import Request, Response

MAX_IDS_PER_CALL = 10_000
MAX_ATTRIBUTES_PER_ID = 15
MAX_AUDIENCE_NAME_LENGTH = 255

AUDIENCE_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_AUDIENCE_NAME_LENGTH}}}")
_NAME = rf"[a-z0-9_]{{1,{MAX_NAME_LENGTH}}}"
_ATTRIBUTE_KEY = re.compile(rf"(?P<name>{_NAME})|(?P<wrapper>date|url)\((?P<wrapped>{_NAME})\)")
_PATH = r"/1\.1/(?P<api_key>[^/]+)/custom-audience/(?P<audience>[^/]+)"


class BatchAudienceSimulator(BatchApiSimulator):
    """Custom Audience API 1.1; members are applied at once, indexing tokens report APPLIED after some polls."""

    ROUTES = (
        ("POST", _PATH, "audience.create"),
        ("PATCH", _PATH, "audience.update"),
        ("PUT", _PATH, "audience.replace"),
        ("DELETE", _PATH, "audience.delete"),
        ("GET", _PATH, "audience.indexing"),
    )

    def __init__(self, rest_api_key: str, app_api_keys: Mapping[str, str], indexing_polls: int = 2,
                 auto_create: bool = False, port: int = 0) -> None:
        super().__init__(rest_api_key, app_api_keys, port)
        self.indexing_polls = indexing_polls  # polls answered IN_PROGRESS before APPLIED
        self.auto_create = auto_create  # PATCH/PUT create a missing audience instead of a 404
        self.clear_state()

    def clear_state(self) -> None:
        self._audiences: dict[str, dict[str, dict]] = {}  # app -> audience -> install id -> member
        self._polls: dict[tuple[str, str, str], int] = {}  # (app, audience, token) -> polls so far

    # -- what tests use --------------------------------------------------------------------------

    def create_audience(self, app_name: str, name: str) -> None:
        with self._state_lock:
            self._audiences.setdefault(app_name, {}).setdefault(name, {})

    def members(self, app_name: str, audience: str) -> dict[str, dict] | None:
        """{install_id: {"attributes", "tags"}} of an audience, None when it does not exist."""
        with self._state_lock:
            members = self._audiences.get(app_name, {}).get(audience)
            return copy.deepcopy(members)

    def audiences(self, app_name: str) -> list[str]:
        with self._state_lock:
            return sorted(self._audiences.get(app_name, {}))

    # -- the API ---------------------------------------------------------------------------------

    def handle_app(self, request: Request, app: str) -> Response:
        name = request.params["audience"]
        if not AUDIENCE_NAME.fullmatch(name):
            raise malformed(f"audience names are 1 to {MAX_AUDIENCE_NAME_LENGTH} of [A-Za-z0-9_-], "
                            f"got {name!r}")
        audiences = self._audiences.setdefault(app, {})
        exists = name in audiences
        if request.route == "audience.create":
            if exists:
                raise BatchError("API_MISUSE", f"audience {name!r} already exists")
            if request.body and read_json_body(request) != {}:
                raise malformed("creating an audience takes no parameters: add ids with PATCH")
            audiences[name] = {}
            return Response(201, {})
        if not exists and not (self.auto_create and request.route in ("audience.update", "audience.replace")):
            raise BatchError("ROUTE_NOT_FOUND", f"audience {name!r} not found: create it first (POST)")
        if request.route == "audience.delete":
            del audiences[name]
            return Response(200, {})
        if request.route == "audience.indexing":
            return self._indexing_state(app, name, request.query.get("indexing_token"))
        changes = _parse_ids(read_json_body(request))
        members = audiences.setdefault(name, {})
        if request.route == "audience.replace":
            members.clear()
        for install_id, member in changes.items():
            if member is None:
                members.pop(install_id, None)
            else:
                members[install_id] = member
        token = uuid.uuid4().hex
        self._polls[(app, name, token)] = 0
        return Response(201, {"indexing_token": token}, items=len(changes))

    def _indexing_state(self, app: str, audience: str, token: str | None) -> Response:
        if not token:
            raise BatchError("MISSING_PARAMETER", "the indexing_token query parameter is required")
        key = (app, audience, token)
        if key not in self._polls:
            raise BatchError("ROUTE_NOT_FOUND", f"indexing token {token!r} not found for audience {audience!r}")
        self._polls[key] += 1
        state = "IN_PROGRESS" if self._polls[key] <= self.indexing_polls else "APPLIED"
        return Response(200, {"indexing_state": state})


def _parse_ids(body: Any) -> dict[str, dict | None]:
    """install id -> its member entry (None: remove), keeping only each id's last action, as the page says."""
    if not isinstance(body, dict):
        raise malformed("the body is an object {\"ids\": [...]}")
    if unknown := body.keys() - {"ids"}:
        raise malformed(f"unknown fields {sorted(unknown)}")
    ids = body.get("ids")
    if ids is not None and not isinstance(ids, list):
        raise malformed("'ids' must be an array")
    if not ids:
        raise BatchError("MISSING_PARAMETER", "'ids' is required and must hold at least one element")
    if len(ids) > MAX_IDS_PER_CALL:
        raise malformed(f"'ids' holds at most {MAX_IDS_PER_CALL} elements, got {len(ids)}")
    changes: dict[str, dict | None] = {}
    for index, element in enumerate(ids):
        install_id, member = _parse_element(element, f"ids[{index}]")
        changes.pop(install_id, None)  # the last action wins
        changes[install_id] = member
    return changes


def _parse_element(element: Any, where: str) -> tuple[str, dict | None]:
    if not isinstance(element, dict):
        raise malformed(f"{where}: expected an object {{\"action\", \"id\", \"attributes\"?, \"tags\"?}}")
    if unknown := element.keys() - {"action", "id", "attributes", "tags"}:
        raise malformed(f"{where}: unknown fields {sorted(unknown)}")
    for required in ("action", "id"):
        if required not in element:
            raise BatchError("MISSING_PARAMETER", f"{where}: {required!r} is required")
    action, install_id = element["action"], element["id"]
    if not isinstance(install_id, str) or not install_id:
        raise malformed(f"{where}: 'id' must be a non-empty install id string")
    where = f"{where} (id {install_id!r})"
    if action not in ("add", "remove"):
        raise malformed(f"{where}: 'action' must be \"add\" or \"remove\"")
    if action == "remove":
        if "attributes" in element or "tags" in element:
            raise malformed(f"{where}: attributes and tags are only accepted with the add action")
        return install_id, None
    tags = check_strings(element.get("tags", []), f"{where}, tags")
    attributes = _parse_attributes(element.get("attributes", {}), where)
    return install_id, {"attributes": attributes, "tags": sorted(set(tags))}


def _parse_attributes(attributes: Any, where: str) -> dict[str, Any]:
    if not isinstance(attributes, dict):
        raise malformed(f"{where}: 'attributes' must be an object")
    if len(attributes) > MAX_ATTRIBUTES_PER_ID:
        raise malformed(f"{where}: at most {MAX_ATTRIBUTES_PER_ID} attributes per id, got {len(attributes)}")
    parsed: dict[str, Any] = {}
    for key, value in attributes.items():
        at = f"{where}, attribute {key!r}"
        match = _ATTRIBUTE_KEY.fullmatch(key)
        if match is None:
            hint = " (audience attributes take no u. prefix)" if "u." in key else ""
            raise malformed(f"{at}: use <name>, date(<name>) or url(<name>), <name> being 1 to "
                            f"{MAX_NAME_LENGTH} of [a-z0-9_]{hint}")
        name = match["name"] or match["wrapped"]
        if name in parsed:
            raise malformed(f"{at}: only one value per attribute name")
        if value is None:
            raise malformed(f"{at}: null is not an attribute value here: leave the attribute out")
        parsed[name] = attribute_value(match["wrapper"], value, at)[1]
    return parsed
