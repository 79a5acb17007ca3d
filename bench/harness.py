"""The pieces a benchmark runs against, each in its own process so its CPU is not the handler's:
the vendor simulators (`usersync simulators`) and a local AWS stack (`usersync run --keep`).
The handler under test runs in the benchmark's process, called with the events Lambda delivers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from common import REPO_ROOT, WORK, python_env

USERSYNC = [str(Path(sys.executable).parent / "usersync")]  # the CLI this venv installed


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Child:
    """A `usersync` command in the background, stopped with Ctrl-C (SIGINT) as a person would."""

    def __init__(self, *args: str):
        self.args = list(args)
        self.process: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        self.process = subprocess.Popen(USERSYNC + self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=python_env(COLUMNS="200"), cwd=REPO_ROOT)
        return self.process

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class EchoVendor:
    """bench/echo_vendor.py in its own process: Batch and CleverTap answers after `latency_ms`."""

    def __init__(self, latency_ms: float):
        self.latency_ms = latency_ms
        self.process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> EchoVendor:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "bench" / "echo_vendor.py"), "--latency-ms", str(self.latency_ms)],
            stdout=subprocess.PIPE, text=True, env=python_env())
        line = self.process.stdout.readline()
        if not line.startswith("Serving "):
            raise RuntimeError(f"echo vendor did not start: {line!r}")
        self.url = line.split()[1]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=20)

    @property
    def environment(self) -> dict[str, str]:
        return {"BATCH_API_URL": self.url, "CLEVERTAP_API_URL": self.url + "/{region}"}

    # Literal keys: accepted outside Lambda; the echo vendor checks none.
    DESTINATIONS = {
        "batch": {"type": "batch", "api_key": "bench-app-key", "rest_key": "bench-rest-key"},
        "clevertap": {"type": "clevertap", "account_id": "BENCH-ACC-0001", "passcode": "bench-passcode",
                      "region": "eu1"},
    }


class ExternalLocalStack(Child):
    """moto server with the template's resources, as `usersync run --keep` leaves it."""

    def __init__(self) -> None:
        self.port = free_ports(1)[0]
        super().__init__("run", "--keep", "--port", str(self.port), "--message", '{"user_id": "bench-warmup"}')
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.outputs: dict[str, str] = {}

    def __enter__(self) -> ExternalLocalStack:
        sys.path.insert(0, str(REPO_ROOT / "layers" / "usersync"))
        from usersync_dev.cli.target import TargetError, local_target

        self.start()
        deadline = time.monotonic() + 120
        while True:
            try:
                target = local_target(self.endpoint_url)
                if "StateTableName" in target.outputs:
                    break
            except TargetError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start:\n{self.process.stdout.read()[-2000:]}")
            time.sleep(0.5)
        self.outputs, self._dynamodb = target.outputs, target.client("dynamodb")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def empty_state_table(self) -> None:
        """Every item of StateTable deleted (call it outside the timed part). moto copies the whole table
        for each item of a transaction, so a ledger write there costs more as tokens pile up (322 ms a
        write after a few thousand calls); DynamoDB's cost does not grow with the table."""
        client, table = self._dynamodb, self.outputs["StateTableName"]
        for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
            keys = page["Items"]
            for start in range(0, len(keys), 25):  # BatchWriteItem's limit
                client.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": key}}
                                                              for key in keys[start:start + 25]]})

    def environment(self) -> dict[str, str]:
        """What the functions get in the cloud, pointed at this stack (as LocalAwsStack.environment())."""
        from usersync_dev.local.stack import _env_name

        env = {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
        for key, value in self.outputs.items():
            if key.endswith("Url"):
                env[_env_name(key[:-3]) + "_URL"] = value
            elif key.endswith("Name"):
                env[_env_name(key[:-4])] = value
        env["FAILED_RECORDS_BUCKET"] = env["INGEST_BUCKET"]  # as the template sets it: records too large for the DLQ
        return env


def sqs_messages(bodies: list[str]) -> list[dict[str, Any]]:
    """Messages as ReceiveMessage returns them, for usersync_dev.local.pump.sqs_event."""
    now = str(int(time.time() * 1000))
    return [{"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": body,
             "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": now, "SenderId": "bench",
                            "ApproximateFirstReceiveTimestamp": now}} for body in bodies]


def set_environment(env: dict[str, str]) -> None:
    os.environ.update(env)
