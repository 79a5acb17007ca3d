"""`usersync run` and `usersync simulators` end to end: the local stack and simulators over 127.0.0.1."""

import json

import pytest
from typer.testing import CliRunner

from usersync_dev.cli import app, commands  # noqa: F401 - registers the commands
from usersync.config import parse_config
from usersync_dev.local.sandbox import example_messages

pytestmark = pytest.mark.integration
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_run_on_the_sample_messages_reports_deliveries_and_every_failure_with_its_file(repo_root):
    result = invoke("run", "--json", "--messages", str(repo_root / "examples" / "messages"))
    assert result.exit_code == 1  # some sample records are meant to fail
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["messages"] == len(example_messages()) and summary["dead_letter_messages"] == 0
    assert summary["delivered"]["batch_ios"] >= 3 and summary["calls"]["batch_ios"] == 1
    codes = {(f["destination"], f["code"]) for f in summary["failed"]}
    assert ("(none)", "INVALID_MESSAGE") in codes and ("batch_ios", "UNSUPPORTED_OPERATION") in codes


def test_run_prints_tables_and_exits_0_when_everything_is_delivered():
    records = [{"user_id": f"u{i}", "attributes": {"level": i}} for i in range(25)]
    result = invoke("run", "--message", json.dumps(records), "--message", json.dumps({"user_id": "solo"}))
    assert result.exit_code == 0, result.output
    assert "26 records from 2 messages" in result.output
    assert "Every record was delivered" in result.output
    assert "batch_ios" in result.output and "deliver function" in result.output  # table and progress bar


def test_run_names_the_file_and_position_of_each_failed_record(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"user_id": "ok"}, {"user_id": "x", "attributes": {"p": {"$incr": 1}}}]))
    result = invoke("run", "--messages", str(tmp_path))
    assert result.exit_code == 1
    assert "a.json[1] attributes.p  UNSUPPORTED_OPERATION → batch_android, batch_ios" in result.output


def test_run_with_your_config_keeps_its_destination_names_and_never_uses_its_secrets(tmp_path):
    config = tmp_path / "destinations.json"
    config.write_text(json.dumps({"destinations": {"batch_web": {
        "type": "batch", "api_key": "ssm:/prod/web_key", "rest_key": "secretsmanager:prod/batch#rest", "batch_size": 2,
    }}}))
    records = [{"user_id": f"u{i}", "attributes": {"n": i}} for i in range(5)]
    result = invoke("run", "--json", "--config", str(config), "--message", json.dumps(records))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["delivered"] == {"batch_web": 5} and summary["calls"] == {"batch_web": 3}


def test_run_keep_serves_the_local_stack_for_the_other_commands_until_ctrl_c(monkeypatch):
    from usersync_dev.cli import run as run_module

    seen = {}

    def interrupt(seconds):
        # while the stack is kept, `usersync tokens` reads it
        seen["tokens"] = runner.invoke(app, ["tokens", "--json", "--endpoint-url", seen["endpoint"]])
        raise KeyboardInterrupt

    original = run_module._serve

    def serve(sandbox):
        seen["endpoint"] = sandbox.stack.endpoint_url
        original(sandbox)

    monkeypatch.setattr(run_module, "_serve", serve)
    monkeypatch.setattr(run_module.time, "sleep", interrupt)
    result = invoke("run", "--keep", "--port", "0", "--message", '{"user_id": "kept"}')
    assert result.exit_code == 0, result.output
    assert "stays up at" in result.output
    assert seen["tokens"].exit_code == 0, seen["tokens"].output
    assert {"batch_ios", "batch_android"} <= {t["destination"] for t in json.loads(seen["tokens"].stdout)}


def test_simulators_start_print_their_urls_and_keys_and_write_a_usable_config(tmp_path):
    config = tmp_path / "sim.json"
    result = invoke("simulators", "--duration", "0.2", "--batch-port", "0", "--batch-audience-port", "0",
                    "--clevertap-port", "0", "--batch-profile-port", "0", "--latency-ms", "5",
                    "--write-config", str(config))
    assert result.exit_code == 0, result.output
    assert "export BATCH_API_URL='http://127.0.0.1:" in result.output
    assert "export BATCH_PROFILE_API_URL='http://127.0.0.1:" in result.output
    assert "CleverTap account id / passcode" in result.output and "Calls answered" in result.output
    parsed = parse_config(config.read_text(), origin="test")
    assert {"batch_ios", "batch_android", "batch_web", "clevertap", "batch_ios_audiences",
            "batch_profile"} <= set(parsed.destinations)


def test_simulators_say_so_when_a_port_is_taken():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("simulators", "--duration", "0", "--batch-port", str(port))
    assert result.exit_code == 2
    assert "cannot start the simulators" in result.output


def test_run_drops_files_in_the_bucket_and_reports_each_job_and_each_failed_line(tmp_path):
    (tmp_path / "users.csv").write_text("user_id,nickname,age:int\nu1,Ada,36\nu2,Bob,old\nu3,Cy,40\n")
    (tmp_path / "more.jsonl").write_text('{"user_id": "j1"}\n{"user_id": "j2", "attributes": {"Bad": 1}}\n')
    result = invoke("run", "--json", str(tmp_path))
    assert result.exit_code == 1
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    jobs = {job["key"]: job for job in summary["files"]}
    assert set(jobs) == {"incoming/users.csv", "incoming/more.jsonl"}
    assert all(job["state"] == "DONE" for job in jobs.values())
    assert jobs["incoming/users.csv"]["records"] == {"read": 3, "rejected": 1, "in_file": 3}
    lines = {(f["source"]["key"], f["source"]["line"], f["error"]["code"]) for f in summary["failed_records"]}
    assert ("incoming/users.csv", 3, "INVALID_RECORD") in lines
    assert ("incoming/more.jsonl", 2, "VENDOR_RULE") in lines
    assert summary["delivered"]["batch_ios"] == 3  # u1, u3, j1


def test_run_says_why_a_file_was_refused_as_a_whole(tmp_path):
    (tmp_path / "noid.csv").write_text("nickname\nAda\n")
    result = invoke("run", str(tmp_path / "noid.csv"))
    assert result.exit_code == 1
    assert "FAILED" in result.output and "needs a user_id column" in result.output


def test_run_with_your_clevertap_account_uses_the_simulators_account_and_region(tmp_path):
    config = tmp_path / "destinations.json"
    config.write_text(json.dumps({"destinations": {"ct_eu": {
        "type": "clevertap", "account_id": "REAL-ACC-0001", "passcode": "ssm:/prod/ct", "region": "eu1",
        "batch_size": 2}}}))
    records = [{"user_id": f"u{i}", "attributes": {"plan": "gold"}} for i in range(3)]
    result = invoke("run", "--json", "--config", str(config), "--message", json.dumps(records))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["delivered"] == {"ct_eu": 3} and summary["calls"] == {"ct_eu": 2}
