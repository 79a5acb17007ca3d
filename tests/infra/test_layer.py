"""The Lambda layer ships the runtime only, and all of it loads with only the layer's requirements:
no development tooling inside (simulators, local stack, CLI), nothing that cannot be imported,
and no dead module (every module is loaded by some function's handler at cold start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER_SOURCE = REPO_ROOT / "layers" / "usersync"
DEV_ONLY = ("moto", "typer", "yaml", "rich", "usersync_dev", "werkzeug", "flask")

# Run by a bare interpreter (-S: no site-packages, -E: no PYTHON* variables) with only the layer's
# requirements on its path: imports every handler as Lambda does, then every module of the package.
PROBE = r"""
import importlib, importlib.util, json, pkgutil, sys
layer, functions = sys.argv[1], sys.argv[2:]
sys.path.insert(0, layer)
import usersync
for path in functions:
    spec = importlib.util.spec_from_file_location("handler_" + path.split("/")[-2], path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
loaded_by_handlers = sorted(name for name in sys.modules if name == "usersync" or name.startswith("usersync."))
every = sorted(["usersync"] + [m.name for m in pkgutil.walk_packages(usersync.__path__, "usersync.")])
failed = {}
for name in every:
    try:
        importlib.import_module(name)
    except Exception as error:  # report them all, not the first
        failed[name] = f"{type(error).__name__}: {error}"
dev_only = sorted(name for name in sys.modules if name.split(".")[0] in %r)
print(json.dumps({"handlers": loaded_by_handlers, "every": every, "failed": failed, "dev_only": dev_only}))
""" % (DEV_ONLY,)


def base_python() -> str:
    """The interpreter the project's venv was made from: it has none of the venv's packages."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


@pytest.fixture(scope="module")
def layer_for_this_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer's requirements (and boto3, which the Lambda runtime provides) for this machine's Python,
    plus the package as the layer's Makefile copies it."""
    target = tmp_path_factory.mktemp("layer")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                    "--target", str(target), "-r", str(LAYER_SOURCE / "requirements.txt"), "boto3"],
                   check=True, capture_output=True, text=True, timeout=600)
    subprocess.run(["make", "--no-print-directory", "-C", str(LAYER_SOURCE), "copy-package", f"TARGET={target}"],
                   check=True, capture_output=True, text=True, timeout=60)
    return target


def test_the_layer_holds_no_development_tooling(sam_build: Path):
    layer = sam_build / "UsersyncLayer" / "python"
    shipped = {p.relative_to(layer).as_posix() for p in (layer / "usersync").rglob("*.py")}
    assert shipped, "the layer holds the usersync package"
    tooling = [name for name in shipped if any(part in name for part in ("simulat", "/local/", "/cli/", "demo"))]
    assert tooling == []
    assert not (layer / "usersync_dev").exists()
    for package in ("moto", "typer", "yaml", "rich"):
        assert not (layer / package).exists(), f"{package} is development tooling"


def test_every_module_loads_with_only_the_layer_and_every_one_is_used(layer_for_this_python: Path):
    functions = sorted(str(p) for p in (REPO_ROOT / "functions").glob("*/app.py"))
    environment = {
        "PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "unused", "AWS_SECRET_ACCESS_KEY": "unused",
        "STATE_TABLE": "t", "DESTINATIONS_CONFIG": "/usersync/destinations", "FAILED_RECORDS_QUEUE_URL": "q",
        "CHUNK_QUEUE_URL": "c", "IDEMPOTENCY_TABLE": "i", "FAILED_RECORDS_BUCKET": "b",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    result = subprocess.run([base_python(), "-S", "-E", "-c", PROBE, str(layer_for_this_python), *functions],
                            capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["failed"] == {}, "modules that cannot load with the layer's requirements alone"
    assert found["dev_only"] == [], "the runtime imported development tooling"
    assert sorted(set(found["every"]) - set(found["handlers"])) == [], "modules no function loads: dead code"


def test_the_layer_zip_stays_small(sam_build: Path, tmp_path: Path):
    """The figure the README gives (the layer zipped as `sam deploy` uploads it)."""
    layer = sam_build / "UsersyncLayer"
    archive = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(layer.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(layer).as_posix())
    size_mb = archive.stat().st_size / 1024 / 1024
    print(f"layer zip: {size_mb:.1f} MB")
    assert size_mb < 20, "Lambda allows 50 MB zipped: keep the layer far from it"
