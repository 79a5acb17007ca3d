"""A local run against the real vendors (`usersync run --live`): the config's own secret
references, checked before anything runs and stored in the local stack the way the cloud holds them.

A destinations config names its secrets by reference (usersync.secrets):

- `env:VAR` is read from the process environment, as in the cloud;
- `ssm:NAME` and `secretsmanager:NAME[#key]` come from a local secrets file, a JSON object mapping
  each reference, exactly as the config writes it, to its value:

      {"ssm:/prod/batch/ios_api_key": "…", "secretsmanager:prod/batch#rest_key": "…"}

  `store_secrets` puts them in moto as the cloud holds them: an SSM SecureString parameter NAME, a
  Secrets Manager secret NAME (a JSON document holding every `#key` the file gives for NAME), so the
  functions resolve them with the same calls as in AWS.

No message here ever holds a secret value: references and file names only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from usersync.secrets import is_reference
from usersync.settings import VendorAccessSettings
from usersync.vendors.batch.client import DEFAULT_BASE_URL as BATCH_URL
from usersync.vendors.clevertap.client import DEFAULT_REGION as CLEVERTAP_DEFAULT_REGION
from usersync.vendors.clevertap.client import base_url as clevertap_base_url

ENV, SSM, SECRETS_MANAGER = "env:", "ssm:", "secretsmanager:"

# The variables that replace a vendor's own base URL (usersync.settings), first set wins: only to say
# where a live run sends before it runs.
_ALIAS = {name: field.alias for name, field in VendorAccessSettings.model_fields.items()}
URL_VARIABLES = {
    "batch": (_ALIAS["batch_api_url"],),
    "batch_audience": (_ALIAS["batch_audience_api_url"], _ALIAS["batch_api_url"]),
    "batch_profile": (_ALIAS["batch_profile_api_url"], _ALIAS["batch_api_url"]),
    "clevertap": (_ALIAS["clevertap_api_url"],),
}


class LiveSetupError(ValueError):
    """The live run cannot start; the message names the reference or file, never a value."""


def read_secrets_file(path: Path) -> dict[str, str]:
    """The secrets file: {reference: value} for ssm: and secretsmanager: references."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise LiveSetupError(f"{path}: cannot read the secrets file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LiveSetupError(f"{path}: the secrets file is not UTF-8 text") from None
    except ValueError as exc:  # the decoder's message says where, and quotes nothing of the file
        raise LiveSetupError(f"{path}: the secrets file is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise LiveSetupError(f'{path}: the secrets file must be a JSON object {{"ssm:NAME": "value", ...}}')
    problems, not_references = [], 0
    for reference, value in document.items():
        if reference.startswith(ENV):
            problems.append(f"{reference}: env: references are read from the environment, not from the secrets file")
        elif not reference.startswith((SSM, SECRETS_MANAGER)):
            not_references += 1  # not named: a value written where its reference belongs would be printed
        elif not _name(reference):
            problems.append(f"{reference}: the reference names no parameter or secret")
        elif not isinstance(value, str) or not value:
            problems.append(f"{reference}: its value must be a non-empty string")
    names = {}  # a Secrets Manager secret is either a JSON document of keys or one plain string
    for reference in document:
        if reference.startswith(SECRETS_MANAGER):
            name, keyed = _name(reference), bool(reference.partition("#")[2])
            if names.setdefault(name, keyed) != keyed:
                problems.append(f"secretsmanager:{name} is given both as a plain secret and with #keys: one secret "
                                "cannot be both")
    if not_references:
        problems.append(f"{not_references} entr{'y is' if not_references == 1 else 'ies are'} not named by an "
                        "ssm:NAME or secretsmanager:NAME[#key] reference (not shown: it could be a value)")
    if problems:
        raise LiveSetupError(f"{path}: " + "; ".join(dict.fromkeys(problems)))
    return dict(document)


def references(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, reference) of every secret reference in a destinations config document,
    `where` as `<destination>.<setting>`."""
    def walk(value: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, str) and is_reference(value):
            yield where, value
        elif isinstance(value, Mapping):
            for key, item in value.items():
                yield from walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, f"{where}[{index}]")

    for name, settings in (config.get("destinations") or {}).items():
        yield from walk(settings, name)


def unresolved(config: Mapping[str, Any], secrets: Mapping[str, str] | None,
               environ: Mapping[str, str] | None = None) -> list[str]:
    """Why each reference of the config that neither the environment nor the secrets file (None: no
    file given) resolves cannot be resolved; empty when every one can."""
    environ = os.environ if environ is None else environ
    problems = []
    for where, reference in references(config):
        if reference.startswith(ENV):
            if not environ.get(reference[len(ENV):]):
                problems.append(f"{where} = {reference}: the environment variable {reference[len(ENV):]} is not set")
        elif secrets is None:
            problems.append(f"{where} = {reference}: give its value in a secrets file (--secrets FILE)")
        elif reference not in secrets:
            problems.append(f"{where} = {reference}: not in the secrets file")
    return problems


def store_secrets(stack: Any, secrets: Mapping[str, str]) -> None:
    """Each value where the cloud holds it: `ssm:NAME` as a SecureString parameter NAME,
    `secretsmanager:NAME` as secret NAME, `secretsmanager:NAME#key` as key of the JSON secret NAME."""
    ssm = stack.client("ssm")
    documents: dict[str, dict[str, str] | str] = {}
    for reference, value in secrets.items():
        if reference.startswith(SSM):
            try:
                ssm.put_parameter(Name=_name(reference), Value=value, Type="SecureString", Overwrite=True)
            except Exception as exc:  # botocore's ClientError
                raise LiveSetupError(f"{reference}: the local stack refused the parameter: "
                                     f"{_aws_error(exc, secrets.values())}") from None
        elif reference.startswith(SECRETS_MANAGER):
            name, _, key = reference[len(SECRETS_MANAGER):].partition("#")
            if key:
                document = documents.setdefault(name, {})
                assert isinstance(document, dict)  # read_secrets_file refuses a secret both plain and keyed
                document[key] = value
            else:
                documents[name] = value
    manager = stack.client("secretsmanager") if documents else None
    for name, document in documents.items():
        text = document if isinstance(document, str) else json.dumps(document)
        try:
            manager.create_secret(Name=name, SecretString=text)
        except Exception as exc:
            if type(exc).__name__ == "ResourceExistsException":  # reset() of a stack kept between runs
                manager.put_secret_value(SecretId=name, SecretString=text)
                continue
            raise LiveSetupError(f"{SECRETS_MANAGER}{name}: the local stack refused the secret: "
                                 f"{_aws_error(exc, [text, *secrets.values()])}") from None


@dataclass(frozen=True)
class Target:
    """Where one destination's calls go in a live run."""
    destination: str
    vendor: str
    url: str
    set_by: str | None  # the variable that overrides the vendor's own base URL, if any

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc or self.url

    def __str__(self) -> str:
        return f"{self.destination} → {self.host}" + (f" (from {self.set_by})" if self.set_by else "")


def targets(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> list[Target]:
    """The host each destination's calls go to: the vendor's own base URL, or the override a live
    sandbox passes through to the functions from `environ` (default: this process's environment)."""
    environ = os.environ if environ is None else environ
    found = []
    for name, settings in (config.get("destinations") or {}).items():
        vendor = settings.get("type", "")
        variables = URL_VARIABLES.get(vendor, ())
        set_by = next((variable for variable in variables if environ.get(variable)), None)
        if vendor == "clevertap":
            url = clevertap_base_url(settings.get("region") or CLEVERTAP_DEFAULT_REGION, environ.get(set_by or ""))
        else:
            url = environ[set_by] if set_by else BATCH_URL if vendor in URL_VARIABLES else f"(unknown vendor {vendor!r})"
        found.append(Target(name, vendor, url, set_by))
    return found


def _name(reference: str) -> str:
    if reference.startswith(SSM):
        return reference[len(SSM):]
    return reference[len(SECRETS_MANAGER):].partition("#")[0]


def _aws_error(exc: Exception, values: Any) -> str:
    """botocore's error code and message, any of `values` in it (a validation message may quote one) hidden."""
    error = (getattr(exc, "response", None) or {}).get("Error") or {}
    message = f"{error.get('Code') or type(exc).__name__}: {error.get('Message') or ''}".rstrip(": ")
    for value in sorted(values, key=len, reverse=True):
        message = message.replace(value, "***")
    return message
