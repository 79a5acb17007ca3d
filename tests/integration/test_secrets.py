"""No secret in any log line, DynamoDB item, failed-record message, handler response or exception,
whatever happens on the way (success, 4xx, 401, dropped connection)."""

import json
import logging

import pytest

from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration


def test_no_key_leaks_anywhere_even_at_debug_level(sandbox, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "usersync", "botocore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    responses = []

    def run(fault, user):
        sandbox.publish([json.dumps({"user_id": user, "attributes": {"n": 1}})])
        sandbox.batch.inject(fault, times=1)
        pump = sandbox.deliver_pump()
        handler = pump.handler
        pump.handler = lambda event, context: responses.append(handler(event, context)) or responses[-1]
        pump.drain()

    run(Fault.drop(), "dropped")        # requests' error text carries the URL
    run(Fault.status(503), "retried")
    run(Fault.status(400), "rejected")

    assert any("urllib3" in r.name for r in caplog.records), "the test must see urllib3's request lines"
    dynamodb = sandbox.stack.client("dynamodb")
    items = dynamodb.scan(TableName=sandbox.resources["StateTable"]["name"])["Items"]
    assert items, "tokens were saved"
    failed = sandbox.queue_bodies("FailedRecordsQueue")
    assert failed, "the 400 put records in the failed-records queue"
    out, err = capsys.readouterr()
    everything = "\n".join([caplog.text, out, err, json.dumps(items), *failed, json.dumps(responses),
                            *(repr(r.exc_info) for r in caplog.records if r.exc_info)])
    for name, key in sandbox.keys.items():
        assert key not in everything, f"{name} leaked"
    assert "***" in everything, "the URL was logged, redacted"
