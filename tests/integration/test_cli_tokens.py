"""`usersync tokens` against a local stack (moto server), as after `usersync run --keep`."""

import json

import pytest
from typer.testing import CliRunner

from usersync.cli import app, commands  # noqa: F401 - registers the commands

pytestmark = pytest.mark.integration
runner = CliRunner()


def tokens(sandbox, *args: str):
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
