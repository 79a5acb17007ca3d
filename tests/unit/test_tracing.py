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


# With tracing on, in Lambda (LAMBDA_TASK_ROOT, a sampled trace header): the subsegments that the
# pipeline's worker threads open nest under the caller's; the X-Ray emitter is replaced by a capture.
TRACED = """
import json
from concurrent.futures import ThreadPoolExecutor
from aws_xray_sdk.core import xray_recorder
from usersync.observability import propagate_trace, subsegment, tracer

sent = []

class Capture:
    def send_entity(self, entity):
        sent.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address):
        pass

xray_recorder.configure(emitter=Capture())

def send(name):
    with subsegment(f"## {name} send") as segment:
        segment.put_annotation("destination", name)

with subsegment("## batch"):
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(propagate_trace(send), ["a", "b"]))
print(json.dumps({"disabled": tracer.disabled, "sent": sent}))
"""


def test_with_active_tracing_the_worker_threads_subsegments_nest_under_the_callers():
    env = {name: value for name, value in os.environ.items() if name != "POWERTOOLS_TRACE_DISABLED"}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "layers" / "usersync"), env.get("PYTHONPATH", "")]),
        "TRACING": "Active", "LAMBDA_TASK_ROOT": "/var/task", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    })
    result = subprocess.run([sys.executable, "-c", TRACED], capture_output=True, text=True, timeout=120, env=env,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["disabled"] is False
    by_name = {entity["name"]: entity for entity in found["sent"]}
    assert sorted(by_name) == ["## a send", "## b send", "## batch"]
    for name in ("a", "b"):
        assert by_name[f"## {name} send"]["parent_id"] == by_name["## batch"]["id"]
        assert by_name[f"## {name} send"]["annotations"] == {"destination": name}


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
