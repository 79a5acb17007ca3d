"""`usersync validate`: every problem with its position and field, per destination; nothing sent."""

import json

import pytest
from typer.testing import CliRunner

from usersync.cli import app, commands  # noqa: F401 - registers the commands

runner = CliRunner()

RECORDS = [
    {"user_id": "ok-1", "attributes": {"nickname": "Ada"}},
    {"user_id": "upper", "attributes": {"Nickname": "Bad name for Batch"}},
    {"attributes": {"nickname": "no id"}},
    {"user_id": "date", "attributes": {"signup": {"$date": "someday"}}},
    {"user_id": "ok-2", "attributes": {"tags": ["a", "b"]}},
]


def validate(*args: str):
    return runner.invoke(app, ["validate", *args])


@pytest.fixture
def messy(tmp_path):
    path = tmp_path / "messy.json"
    path.write_text(json.dumps(RECORDS))
    return path


def test_every_problem_is_listed_with_its_position_field_and_destination(messy):
    result = validate("--messages", str(messy))
    assert result.exit_code == 1
    out = result.output
    assert "5 records checked" in out
    assert "messy.json[1] attributes.Nickname  VENDOR_RULE → batch" in out
    assert "messy.json[2] user_id  INVALID_RECORD → every destination" in out
    assert "messy.json[3] attributes.signup  INVALID_RECORD → every destination" in out
    assert "is not an ISO-8601 date" in out
    assert "[0]" not in out and "[4]" not in out  # good records are not mentioned


def test_json_report_lists_every_problem_with_its_source(messy):
    result = validate("--messages", "--json", str(messy))
    assert result.exit_code == 1
    [report] = json.loads(result.stdout)
    assert report["records"] == 5 and report["ok"] is False
    assert report["would_send"]["batch"] == 2
    positions = [(p["where"], p["code"], p.get("field"), p["destination"]) for p in report["problems"]]
    assert ("messy.json[1]", "VENDOR_RULE", "attributes.Nickname", "batch") in positions
    assert ("messy.json[2]", "INVALID_RECORD", "user_id", None) in positions
    assert all(p["source"]["index"] in (1, 2, 3) for p in report["problems"])


def test_a_clean_file_exits_0(tmp_path):
    path = tmp_path / "clean.json"
    path.write_text(json.dumps({"records": [RECORDS[0], RECORDS[4]]}))
    result = validate("--messages", str(path))
    assert result.exit_code == 0, result.output
    assert "No problem found" in result.output


def test_with_your_config_records_are_checked_against_the_destinations_they_name(tmp_path):
    config = tmp_path / "destinations.json"
    config.write_text(json.dumps({"destinations": {"batch_ios": {"type": "batch", "api_key": "env:K", "rest_key": "env:R"}}}))
    path = tmp_path / "named.json"
    path.write_text(json.dumps([{"user_id": "a", "destinations": ["batch_web"]}, {"user_id": "b"}]))
    result = validate("--messages", "--config", str(config), "--json", str(path))
    assert result.exit_code == 1
    [report] = json.loads(result.stdout)
    assert report["would_send"] == {"batch_ios": 1}
    [problem] = report["problems"]
    assert problem["code"] == "UNKNOWN_DESTINATION" and problem["destination"] == "batch_web"


def test_max_problems_caps_what_is_printed_not_what_is_counted(messy):
    result = validate("--messages", "--max-problems", "1", str(messy))
    assert result.exit_code == 1
    assert "3 problems" in result.output and "and 2 more" in result.output


@pytest.mark.parametrize("args, message", [
    ((), "Missing argument"),
    (("--messages", "nope.json"), "does not exist"),
    (("--dry-run", "--messages", "{file}"), "--config"),
    (("{file}",), "--messages"),
    (("--messages", "--config", "{file}", "{file}"), "destinations config"),
])
def test_bad_arguments_exit_2_with_a_message(messy, args, message):
    result = validate(*(a.format(file=messy) for a in args))
    assert result.exit_code == 2
    assert message in result.output


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"user_id": "café"}'.encode("latin-1"))
    result = validate("--messages", str(path))
    assert result.exit_code == 2
    assert "UTF-8" in result.output
