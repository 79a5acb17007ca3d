"""The CLI's argument handling: exit codes and messages for bad input, with no socket opened."""

import json

import pytest
from typer.testing import CliRunner

from usersync_dev.cli import app, commands  # noqa: F401 - registers the commands
from usersync_dev.cli.target import logical_id

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("run", "validate", "tokens", "simulators", "erase", "erasure"):
        assert command in result.output


@pytest.mark.parametrize("args, message", [
    ((), "nothing to run"),
    (("--message", "  "), "cannot be empty"),
    (("--batch-size", "11", "--message", "{}"), "--batch-size"),
])
def test_run_refuses_bad_arguments_with_exit_code_2(args, message):
    result = invoke("run", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_run_refuses_a_missing_file(tmp_path):
    result = invoke("run", "--messages", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_run_refuses_a_message_bigger_than_sqs_takes(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"user_id": f"u{i}", "attributes": {"bio": "x" * 100}} for i in range(3000)]))
    result = invoke("run", "--messages", str(path))
    assert result.exit_code == 2
    assert "more than an SQS message holds" in result.output


def test_run_refuses_an_invalid_destinations_config_before_starting_anything(tmp_path):
    config = tmp_path / "destinations.json"
    config.write_text(json.dumps({"destinations": {"batch_ios": {"type": "batch", "api_key": "k"}}}))
    result = invoke("run", "--config", str(config), "--message", "{}")
    assert result.exit_code == 2
    assert "rest_key" in result.output


@pytest.mark.parametrize("args, message", [
    (("--stack", "usersync", "--endpoint-url", "http://127.0.0.1:1"), "not both"),
    (("--profile", "prod"), "add --stack"),
    (("--region", "eu-west-1"), "add --stack"),
    (("--limit", "0"), "--limit"),
])
def test_tokens_refuses_bad_target_options(args, message):
    result = invoke("tokens", *args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("args", [("--latency-ms", "-1"), ("--fail-rate", "2"), ("--batch-port", "70000")])
def test_simulators_refuses_bad_settings(args):
    assert invoke("simulators", *args).exit_code == 2


@pytest.mark.parametrize("name, expected", [
    ("usersync-work-queue", "WorkQueue"),
    ("usersync-work-dead-letter-queue", "WorkDeadLetterQueue"),
    ("usersync-state-table", "StateTable"),
    ("usersync-events.fifo", "Events"),
])
def test_local_names_map_back_to_the_templates_logical_ids(name, expected):
    assert logical_id(name) == expected


def test_erase_reads_one_person_a_line_with_optional_install_ids(tmp_path):
    from usersync_dev.cli.erasure import deletions
    ids = tmp_path / "ids.txt"
    ids.write_text("\ufeffada i-1 i-2\n\n  bob  \n")
    assert deletions(ids) == [{"user_id": "ada", "delete": True, "install_ids": ["i-1", "i-2"]},
                              {"user_id": "bob", "delete": True}]


def test_erase_refuses_a_file_without_ids(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    result = invoke("erase", "--ids", str(empty), "--endpoint-url", "http://127.0.0.1:9")
    assert result.exit_code == 2 and "no user id" in result.output
