"""`usersync validate`: every problem with its position and field, per destination; nothing sent."""

import json

import pytest
from typer.testing import CliRunner

from usersync_dev.cli import app, commands  # noqa: F401 - registers the commands

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


CSV = """user_id,nickname,age:int,signup:date,Level,points:incr
u1,Ada,36,2016-01-10T10:00:00,3,
u2,Bob,old,2016-01-10,4,
,NoId,20,,5,
u4,"Dan, with a comma",41,1472656161,,10
"""


def test_a_csv_file_is_read_as_the_pipeline_reads_it_and_each_problem_has_its_line(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text(CSV)
    result = validate(str(path))
    assert result.exit_code == 1
    out = result.output
    assert "4 records checked" in out
    assert "users.csv:2 attributes.Level  VENDOR_RULE → batch" in out
    assert "users.csv:3 attributes.age  INVALID_RECORD → every destination" in out and "'old' is not an integer" in out
    assert "users.csv:4 user_id  INVALID_RECORD → every destination" in out
    assert "users.csv:5 attributes.points  UNSUPPORTED_OPERATION → batch" in out


def test_jsonl_and_gzip_files_give_line_numbers_too(tmp_path):
    import gzip

    lines = [json.dumps(RECORDS[0]), "", "{not json", json.dumps(RECORDS[1])]
    path = tmp_path / "users.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    result = validate("--json", str(path))
    assert result.exit_code == 1
    [report] = json.loads(result.stdout)
    assert report["records"] == 3
    where = {(p["where"], p["code"]) for p in report["problems"]}
    assert where == {("users.jsonl.gz:3", "INVALID_RECORD"), ("users.jsonl.gz:4", "VENDOR_RULE")}


def test_a_json_array_file_gives_each_record_the_line_it_starts_on(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps(RECORDS, indent=2))
    result = validate("--json", str(path))
    [report] = json.loads(result.stdout)
    lines = sorted({p["source"]["line"] for p in report["problems"]})
    text = path.read_text().splitlines()
    assert [text[line - 1].strip() for line in lines] == ["{"] * 3  # each problem points at its record's start
    assert len(lines) == 3


@pytest.mark.parametrize("name, content, reason", [
    ("latin1.csv", "user_id,nickname\nu1,café\n".encode("latin-1"), "UTF-8"),
    ("users.txt", b"user_id\nu1\n", "unsupported file type"),
    ("noid.csv", b"nickname\nAda\n", "user_id"),
    ("broken.csv.gz", b"not gzip at all", "gzip"),
])
def test_a_file_that_cannot_be_read_as_a_whole_is_rejected_with_the_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    result = validate(str(path))
    assert result.exit_code == 1
    assert "FILE_REJECTED" in result.output and reason in result.output
