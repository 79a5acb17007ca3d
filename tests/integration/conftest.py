"""Integration tests: moto server and the vendor simulators over real sockets on 127.0.0.1,
the real handlers fed real SQS event shapes by the local pump."""

import json

import pytest

from usersync_dev.local.sandbox import LocalSandbox


@pytest.fixture(scope="module")
def running_sandbox():
    with LocalSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox):
    running_sandbox.reset()
    return running_sandbox


@pytest.fixture(scope="session")
def repo_root():
    from usersync_dev.local.pump import REPO_ROOT
    return REPO_ROOT


@pytest.fixture(scope="session")
def sam_generated_sqs_event(repo_root):
    """`sam local generate-event sqs receive-message`: works offline, no Docker."""
    import os
    import shutil
    import subprocess
    import sys

    sam = shutil.which("sam") or os.path.join(os.path.dirname(sys.executable), "sam")
    out = subprocess.run([sam, "local", "generate-event", "sqs", "receive-message"], capture_output=True, text=True,
                         check=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"}, timeout=120)
    return json.loads(out.stdout)
