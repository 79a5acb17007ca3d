"""Fixtures for the infrastructure tests: the template, `sam build` once per session, a local stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from usersync_dev.local.stack import LocalAwsStack, load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"


def _sam_executable() -> str:
    # The venv's sam first: the one pinned with the project, whatever PATH says.
    beside_python = Path(sys.executable).with_name("sam")
    found = str(beside_python) if beside_python.exists() else shutil.which("sam")
    if not found:
        pytest.skip("sam (aws-sam-cli) is not installed: pip install -e '.[dev]'")
    return found


def _run_sam(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run sam from the repository root, without telemetry; returns the result, never raises."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(
        [_sam_executable(), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def run_sam():
    return _run_sam


@pytest.fixture(scope="session")
def template_path() -> Path:
    return TEMPLATE


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template(TEMPLATE)


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` into a temporary directory, once per session; returns the build directory."""
    build_dir = tmp_path_factory.mktemp("sam-build")
    result = _run_sam("build", "--template-file", str(TEMPLATE), "--build-dir", str(build_dir))
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    return build_dir


@pytest.fixture
def local_stack():
    """A started LocalAwsStack (empty: moto's state is reset on start)."""
    with LocalAwsStack(TEMPLATE) as stack:
        yield stack


@pytest.fixture
def local_resources(local_stack: LocalAwsStack) -> dict[str, dict[str, str]]:
    return local_stack.create_resources()
