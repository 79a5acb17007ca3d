"""The whole pipeline on one machine: moto server with the template's resources, the vendor
simulators, the destinations config and secrets stored the way the cloud stores them
(SSM parameter, SecureString secrets), and the real handlers fed by the event pump.

Each function runs under its own execution role, as in Lambda: its module is imported (a cold
start) with that role's credentials in the environment, so the clients its wiring creates sign as
the function, and moto refuses what template.yaml does not grant it (usersync_dev.local.iam). The
sandbox's own calls (creating resources, publishing, reading queues and tables) are the stack's
administrator's. Anything a function builds later from the environment gets the dummy credentials
the process keeps, which moto refuses: every AWS client must take its credentials at cold start
(usersync.wiring resolves its session's then; a client it makes later signs with them).

A live sandbox (`live=True`, `usersync run --live`) starts no simulator and points at none: the
functions reach the vendors the config names, at their real base URLs unless the user's own
BATCH_API_URL / BATCH_AUDIENCE_API_URL / BATCH_PROFILE_API_URL / CLEVERTAP_API_URL say otherwise, with the config's own
secrets, which `secrets` (reference -> value) puts in moto as the cloud holds them
(usersync_dev.local.live).

Used by `make demo`, the integration tests and the CLI's local runs.
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import boto3

from usersync_dev.simulators.batch import BatchCustomDataSimulator
from usersync_dev.simulators.batch_audience import BatchAudienceSimulator
from usersync_dev.simulators.batch_profile import BatchProfileSimulator
from usersync_dev.simulators.clevertap import CleverTapSimulator
from usersync_dev.local import iam
from usersync_dev.local.pump import REPO_ROOT, LocalLambdaContext, SqsEventPump, load_function
from usersync_dev.local.files import LocalFiles
from usersync_dev.local.stack import LocalAwsStack
from usersync.stores.tokens import plain

CONFIG_PARAMETER = "/usersync/destinations"
SECRETS_PREFIX = "/usersync/secrets/"
BATCH_APPS = ("ios", "android")
CLEVERTAP_ACCOUNT = "TEST-4R6-ZW8-RK7Z"  # an account id is not a secret; its passcode is
CLEVERTAP_REGION = "in1"
AUDIENCE_APP = "ios"
AUDIENCES = ("vip_users", "beta_testers")  # exist in the iOS app; any other audience is a 404
PROFILE_PROJECT = "project_0664hxvwffvbpn278gxdyhsadddqgna6"  # a Batch project key is not a secret
VENDOR_URL_VARIABLES = ("BATCH_API_URL", "BATCH_AUDIENCE_API_URL", "BATCH_PROFILE_API_URL",
                        "CLEVERTAP_API_URL")  # base URL overrides


def default_config() -> dict[str, Any]:
    """One destination per Batch platform app, the iOS app's Custom Audiences, a Batch project's
    profiles (Profile API: update for messages, mass-update for files) and a CleverTap account;
    every secret is an SSM reference."""
    destinations: dict[str, Any] = {
        f"batch_{app}": {
            "type": "batch",
            "api_key": f"ssm:{SECRETS_PREFIX}batch_{app}_api_key",
            "rest_key": f"ssm:{SECRETS_PREFIX}batch_rest_key",
        }
        for app in BATCH_APPS
    }
    destinations[f"batch_{AUDIENCE_APP}_audiences"] = {
        "type": "batch_audience",
        "api_key": f"ssm:{SECRETS_PREFIX}batch_{AUDIENCE_APP}_api_key",
        "rest_key": f"ssm:{SECRETS_PREFIX}batch_rest_key",
        "erase_from": list(AUDIENCES),  # a deletion's install ids leave these audiences
    }
    destinations["batch_profile"] = {
        "type": "batch_profile",
        "project_key": PROFILE_PROJECT,
        "rest_key": f"ssm:{SECRETS_PREFIX}batch_rest_key",
    }
    destinations["clevertap"] = {
        "type": "clevertap",
        "account_id": CLEVERTAP_ACCOUNT,
        "passcode": f"ssm:{SECRETS_PREFIX}clevertap_passcode",
        "region": CLEVERTAP_REGION,
    }
    return {"destinations": destinations}


class LocalSandbox:
    def __init__(self, config: dict[str, Any] | None = None, environment: dict[str, str] | None = None, *,
                 live: bool = False, secrets: Mapping[str, str] | None = None):
        """`live`: no simulators, the real vendors (or the user's *_API_URL); `config` is then required, and
        `secrets` maps the config's ssm:/secretsmanager: references to their values, stored in moto."""
        if live and not config:
            raise ValueError("a live sandbox needs the destinations config to send to")
        self.live = live
        self.initial_config = config
        self.config = config or default_config()
        self.overrides = environment or {}
        self.stack = LocalAwsStack(REPO_ROOT / "template.yaml")
        self.secrets = dict(secrets or {})
        self.keys: dict[str, str] = {}
        self.batch: BatchCustomDataSimulator | None = None
        self.batch_audience: BatchAudienceSimulator | None = None
        self.batch_profile: BatchProfileSimulator | None = None
        self.clevertap: CleverTapSimulator | None = None
        if not live:
            # Fresh random keys each run: the tests prove they never leak, whatever they are.
            self.keys = {f"batch_{app}_api_key": random_secrets.token_hex(16) for app in BATCH_APPS}
            self.keys["batch_rest_key"] = random_secrets.token_hex(16)
            self.keys["clevertap_passcode"] = random_secrets.token_hex(16)
            self.batch = BatchCustomDataSimulator(
                rest_api_key=self.keys["batch_rest_key"],
                app_api_keys={self.keys[f"batch_{app}_api_key"]: app for app in BATCH_APPS},
            )
            self.batch_audience = BatchAudienceSimulator(
                rest_api_key=self.keys["batch_rest_key"],
                app_api_keys={self.keys[f"batch_{app}_api_key"]: app for app in BATCH_APPS},
            )
            # Mass-updates are applied at the first read after they were answered: at once, for the tests.
            self.batch_profile = BatchProfileSimulator(self.keys["batch_rest_key"], [PROFILE_PROJECT])
            self.clevertap = CleverTapSimulator(
                {CLEVERTAP_ACCOUNT: (self.keys["clevertap_passcode"], CLEVERTAP_REGION)})
        self.resources: dict[str, dict[str, str]] = {}
        self._saved_environ: dict[str, str] | None = None
        self._functions: dict[str, ModuleType] = {}
        self.files = LocalFiles(self)  # S3 files: upload, file and chunk functions, jobs, reports

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def simulators(self) -> list[Any]:
        """The vendor simulators: none in a live sandbox."""
        return [s for s in (self.batch, self.batch_audience, self.batch_profile, self.clevertap) if s is not None]

    def start(self) -> LocalSandbox:
        self.stack.start()
        for simulator in self.simulators:
            simulator.start()
        self._provision()
        self._saved_environ = dict(os.environ)
        os.environ.update(self.environment())
        return self

    def reset(self, config: dict[str, Any] | None = None) -> None:
        """Back to a fresh stack and simulators. The new stack's roles have new credentials, so
        every function starts cold again."""
        self.stack.reset()
        for simulator in self.simulators:
            simulator.reset()
        self.config = config or (self.initial_config if self.live else default_config())
        self._provision()
        self.cold_start()

    def _provision(self) -> None:
        self.resources = self.stack.create_resources()
        ssm = self.stack.client("ssm")
        for name, value in self.keys.items():
            ssm.put_parameter(Name=SECRETS_PREFIX + name, Value=value, Type="SecureString", Overwrite=True)
        if self.secrets:
            from usersync_dev.local.live import store_secrets

            store_secrets(self.stack, self.secrets)
        self.put_config(self.config)
        if self.batch_audience is not None:
            for audience in AUDIENCES:
                self.batch_audience.create_audience(AUDIENCE_APP, audience)

    def stop(self) -> None:
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
        for simulator in self.simulators:
            simulator.stop()
        self.stack.stop()

    def __enter__(self) -> LocalSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        env = self.stack.environment()
        env.update(
            DESTINATIONS_CONFIG=CONFIG_PARAMETER,
            POWERTOOLS_METRICS_NAMESPACE="UsersyncLocal",
            POWERTOOLS_PARAMETERS_MAX_AGE="0",  # a config change in a test or demo applies at once
        )
        if self.live:  # the real vendors, or where the user's own variables point (passed through)
            source = self._saved_environ if self._saved_environ is not None else os.environ
            env.update((name, source[name]) for name in VENDOR_URL_VARIABLES if source.get(name))
        else:
            env.update(
                BATCH_API_URL=self.batch.url,
                BATCH_AUDIENCE_API_URL=self.batch_audience.url,  # its own simulator; one host in the cloud
                BATCH_PROFILE_API_URL=self.batch_profile.url,    # likewise
                CLEVERTAP_API_URL=f"{self.clevertap.url}/{{region}}",  # the simulator serves /<region>/1/upload
            )
        env.update(self.overrides)
        return env

    def put_config(self, config: dict[str, Any]) -> None:
        """Store the destinations config; the functions read it on their next invocation
        (POWERTOOLS_PARAMETERS_MAX_AGE is 0 here)."""
        self.config = config
        self.stack.client("ssm").put_parameter(
            Name=CONFIG_PARAMETER, Value=json.dumps(config), Type="String", Overwrite=True)

    # --- the pipeline ---------------------------------------------------------------------

    def queue_url(self, logical_id: str) -> str:
        return self.resources[logical_id]["url"]

    def function(self, name: str) -> ModuleType:
        """functions/<name>/app.py, imported once (a warm Lambda) until `cold_start()`, with its
        execution role's credentials in the environment while it starts."""
        if name not in self._functions:
            credentials = self.stack.function_credentials(self.logical_id(name))
            outside = {variable: os.environ.get(variable) for variable in credentials}
            os.environ.update(credentials)
            # boto3's default session keeps the first credentials it reads: a boto3.client() made at cold
            # start must read this function's, and one made later the process's (refused), never another's.
            boto3.DEFAULT_SESSION = None
            try:
                self._functions[name] = load_function(name)
            finally:
                for variable, value in outside.items():
                    if value is None:
                        os.environ.pop(variable, None)
                    else:
                        os.environ[variable] = value
                boto3.DEFAULT_SESSION = None
        return self._functions[name]

    def logical_id(self, name: str) -> str:
        """functions/<name> -> the template's function whose CodeUri it is (`deliver` -> `DeliverFunction`)."""
        for logical_id, properties in iam.functions(self.stack.template).items():
            if str(properties.get("CodeUri", "")).strip("/") == f"functions/{name}":
                return logical_id
        raise KeyError(f"no function of template.yaml has CodeUri functions/{name}/")

    def handler(self, function: str):
        return self.function(function).handler

    def cold_start(self) -> None:
        """The next invocation of each function starts a new Lambda instance: what a warm one keeps
        (the pacing learnt from 429s, cached config, clients) is gone."""
        self._functions.clear()

    def publish(self, bodies: list[str], queue: str = "WorkQueue") -> list[str]:
        sqs = self.stack.client("sqs")
        return [sqs.send_message(QueueUrl=self.queue_url(queue), MessageBody=body)["MessageId"] for body in bodies]

    def deliver_pump(self, batch_size: int = 10) -> SqsEventPump:
        return SqsEventPump(self.stack.client("sqs"), self.queue_url("WorkQueue"), self.handler("deliver"),
                            function_name="usersync-deliver", batch_size=batch_size)

    def follow_indexing(self) -> dict[str, int]:
        """One scheduled run of the follow-indexing function, on the event EventBridge sends."""
        event = json.loads((REPO_ROOT / "events" / "follow_indexing" / "scheduled.json").read_text(encoding="utf-8"))
        return self.handler("follow_indexing")(event, LocalLambdaContext("usersync-follow-indexing"))

    # --- what happened --------------------------------------------------------------------

    def failed_records(self, queue: str = "FailedRecordsQueue") -> list[dict[str, Any]]:
        """Every message in a queue, without consuming it for good (visibility 0)."""
        return [json.loads(body) for body in self.queue_bodies(queue)]

    def queue_bodies(self, queue: str) -> list[str]:
        """Every message body in a queue, left as it is (read from moto's own state: moto's
        ReceiveMessage slows down as a queue grows, and reading must not count as a receive)."""
        return self.stack.queue_bodies(self.resources[queue]["name"])

    def tokens(self) -> list[dict[str, Any]]:
        pages = self.stack.client("dynamodb").get_paginator("scan").paginate(
            TableName=self.resources["StateTable"]["name"],
            FilterExpression="begins_with(pk, :token)", ExpressionAttributeValues={":token": {"S": "TOKEN#"}})
        items = [item for page in pages for item in page["Items"]]
        return sorted((plain(i) for i in items if i["pk"]["S"].startswith("TOKEN#")), key=lambda i: i["sk"])


EXAMPLES_DIR = REPO_ROOT / "examples"


def example_messages() -> list[tuple[str, str]]:
    """(file name, message body) for every sample message in examples/messages/."""
    return [(path.name, path.read_text(encoding="utf-8"))
            for path in sorted((EXAMPLES_DIR / "messages").iterdir()) if path.is_file()]

