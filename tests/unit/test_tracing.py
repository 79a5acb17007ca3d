"""Tracing is opt-in (template parameter `Tracing`, TRACING in the functions' environment): off, a
cold start never loads the X-Ray SDK; on, the handlers are traced by Powertools' Tracer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted((REPO_ROOT / "functions").glob("*/app.py"))

# Each handler imported in this fresh interpreter, as a cold Lambda does; then what got loaded.
PROBE = """
import importlib.util, json, sys
handlers = {}
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("app_" + path.split("/")[-2], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handlers[path] = type(module.tracer).__module__
from usersync import observability
print(json.dumps({"xray": sorted(m for m in sys.modules if m.startswith("aws_xray_sdk")),
                  "tracers": handlers, "tracing": observability.TRACING}))
"""


def cold_start(tracing: str | None, functions=FUNCTIONS) -> dict:
    env = {name: value for name, value in os.environ.items() if name != "TRACING"}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "layers" / "usersync"), env.get("PYTHONPATH", "")]),
        "STATE_TABLE": "t", "DESTINATIONS_CONFIG": "/usersync/destinations", "FAILED_RECORDS_QUEUE_URL": "q",
        "CHUNK_QUEUE_URL": "c", "IDEMPOTENCY_TABLE": "i", "FAILED_RECORDS_BUCKET": "b",
        "AWS_LAMBDA_FUNCTION_NAME": "usersync-test",
    })
    if tracing is not None:
        env["TRACING"] = tracing
    result = subprocess.run([sys.executable, "-c", PROBE, *map(str, functions)], capture_output=True, text=True,
                            timeout=120, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("tracing", [None, "PassThrough"])
def test_without_active_tracing_no_handler_loads_the_xray_sdk(tracing):
    found = cold_start(tracing)
    assert found["tracing"] is False
    assert found["xray"] == []
    assert set(found["tracers"].values()) == {"usersync.observability"}  # the stand-in


def test_with_active_tracing_the_handlers_are_traced_by_powertools():
    found = cold_start("Active", FUNCTIONS[:1])
    assert found["tracing"] is True
    assert "aws_xray_sdk.core" in found["xray"]
    assert set(found["tracers"].values()) == {"aws_lambda_powertools.tracing.tracer"}


def test_the_untraced_stand_in_does_what_the_handlers_and_pipeline_ask_of_a_tracer():
    from usersync.observability import TRACING, propagate_trace, subsegment, tracer

    assert not TRACING  # the tests' environment sets no TRACING

    def handler(event, context):
        return {"event": event}

    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert propagate_trace(handler) is handler
    with subsegment("## vendor send") as segment:
        segment.put_annotation("destination", "vendor")
        segment.put_metadata("records", 3, "usersync")
