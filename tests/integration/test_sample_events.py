"""Every function has sample events in events/<function>/, and its handler accepts each of them
(the shapes `sam local invoke -e` users start from: see docs/deploy.md)."""

import json

import pytest

from usersync_dev.local.pump import FUNCTIONS_DIR, REPO_ROOT, LocalLambdaContext

pytestmark = pytest.mark.integration
EVENTS_DIR = REPO_ROOT / "events"
FUNCTIONS = sorted(path.parent.name for path in FUNCTIONS_DIR.glob("*/app.py"))
SAMPLES = [(function, path.name) for function in FUNCTIONS
           for path in sorted((EVENTS_DIR / function).glob("*.json"))]


def test_every_function_has_a_sample_event():
    assert FUNCTIONS, "no function found"
    for function in FUNCTIONS:
        assert list((EVENTS_DIR / function).glob("*.json")), f"events/{function}/ has no sample event"


@pytest.mark.parametrize("function, name", SAMPLES)
def test_the_handler_accepts_its_sample_event(sandbox, function, name):
    event = json.loads((EVENTS_DIR / function / name).read_text(encoding="utf-8"))
    response = sandbox.handler(function)(event, LocalLambdaContext(f"usersync-{function}"))
    if "Records" in event and event["Records"][0].get("eventSource") == "aws:sqs":
        # the partial batch response: nothing handed back to SQS
        assert response == {"batchItemFailures": []}
    else:
        assert isinstance(response, dict)
