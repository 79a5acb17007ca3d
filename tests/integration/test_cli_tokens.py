"""`usersync tokens` against a local stack (moto server), as after `usersync run --keep`."""

import json

import pytest
from typer.testing import CliRunner

from usersync_dev.cli import app, commands  # noqa: F401 - registers the commands

pytestmark = pytest.mark.integration
runner = CliRunner()


def tokens(sandbox, *args: str):
    # The command line reads a kept local stack with fixed local keys: `usersync run --keep` opens it so.
    with sandbox.stack.unchecked():
        return runner.invoke(app, ["tokens", "--endpoint-url", sandbox.stack.endpoint_url, *args])


def test_tokens_lists_what_the_vendors_returned_newest_first(sandbox):
    sandbox.publish([json.dumps([{"user_id": f"u{i}"} for i in range(3)])])
    sandbox.deliver_pump().drain()
    result = tokens(sandbox, "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    batch = [t for t in found if t["vendor"] == "batch"]
    assert {t["destination"] for t in batch} == {"batch_ios", "batch_android"}
    assert {t["token"] for t in batch} <= {t["token"] for t in sandbox.batch.tokens}
    assert all(t["record_count"] == 3 for t in found)
    assert [t["created_at"] for t in found] == sorted((t["created_at"] for t in found), reverse=True)

    table = tokens(sandbox, "--destination", "batch_ios")
    assert table.exit_code == 0 and "batch_ios" in table.output and "batch_android" not in table.output
    assert "usersync-state-table" in table.output


def test_tokens_exits_1_when_there_is_none(sandbox):
    result = tokens(sandbox)
    assert result.exit_code == 1
    assert "no token found" in result.output


def test_tokens_says_how_to_start_a_local_stack_when_there_is_none():
    result = runner.invoke(app, ["tokens", "--endpoint-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "no local stack at http://127.0.0.1:9" in result.output and "usersync run --keep" in result.output


def test_with_stack_the_names_come_from_the_cloudformation_outputs(sandbox):
    # moto stands in for AWS here (AWS_ENDPOINT_URL is set by the sandbox): a stack whose outputs
    # name the sandbox's table, as a deployed usersync's do.
    cloudformation = sandbox.stack.client("cloudformation")
    table = sandbox.resources["StateTable"]["name"]
    cloudformation.create_stack(StackName="usersync-prod", TemplateBody=json.dumps({
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"StateTableName": {"Value": table}},
    }))
    sandbox.publish([json.dumps({"user_id": "from-aws"})])
    sandbox.deliver_pump().drain()

    with sandbox.stack.unchecked():  # the user's own credentials: here the process's dummy ones
        result = runner.invoke(app, ["tokens", "--json", "--stack", "usersync-prod", "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    assert {"batch_ios", "batch_android"} <= {t["destination"] for t in json.loads(result.stdout)}


def test_an_unknown_stack_is_named_in_the_error(sandbox):
    result = runner.invoke(app, ["tokens", "--stack", "no-such-stack", "--region", "us-east-1"])
    assert result.exit_code == 1
    assert "stack 'no-such-stack'" in result.output
