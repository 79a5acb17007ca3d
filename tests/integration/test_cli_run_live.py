"""`usersync run --live`: the pipeline on this machine (moto for AWS) sending to the vendors the config
names, with the config's own secrets. Here those "real vendors" are simulators the test starts itself,
with keys only the test knows, reached through BATCH_API_URL / BATCH_PROFILE_API_URL / CLEVERTAP_API_URL
as a user would."""

import json
import secrets

import pytest
from typer.testing import CliRunner

from usersync_dev.cli import app, commands  # noqa: F401 - registers the commands
from usersync_dev.local import sandbox as sandbox_module
from usersync_dev.local.live import read_secrets_file, store_secrets, targets, unresolved
from usersync_dev.simulators.batch import BatchCustomDataSimulator
from usersync_dev.simulators.batch_profile import BatchProfileSimulator
from usersync_dev.simulators.clevertap import CleverTapSimulator

pytestmark = pytest.mark.integration
runner = CliRunner()

CLEVERTAP_ACCOUNT = "LIVE-ACC-0001"  # an account id is not a secret
CLEVERTAP_REGION = "in1"  # not the default region: the simulator answers 401 if it is called in another one
PROFILE_PROJECT = "project_live_0001"  # a project key is not a secret


@pytest.fixture
def vendor_keys():
    """The config's own secrets: random, so that any of them in the output is a leak."""
    return {name: "key-" + secrets.token_hex(16)
            for name in ("rest", "web_api_key", "android_api_key", "clevertap_passcode")}


@pytest.fixture
def no_local_simulators(monkeypatch):
    """A live run must not start, or point at, the sandbox's own simulators."""
    def refuse(*args, **kwargs):
        raise AssertionError("a live run started a local simulator")

    for name in ("BatchCustomDataSimulator", "BatchAudienceSimulator", "BatchProfileSimulator", "CleverTapSimulator"):
        monkeypatch.setattr(sandbox_module, name, refuse)


def write(path, document):
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_live_run_sends_with_the_configs_own_secrets_and_writes_the_rejected_records(
        tmp_path, monkeypatch, vendor_keys, no_local_simulators):
    batch = BatchCustomDataSimulator(vendor_keys["rest"], {vendor_keys["web_api_key"]: "web",
                                                           vendor_keys["android_api_key"]: "android"})
    clevertap = CleverTapSimulator({CLEVERTAP_ACCOUNT: (vendor_keys["clevertap_passcode"], CLEVERTAP_REGION)})
    profiles = BatchProfileSimulator(vendor_keys["rest"], [PROFILE_PROJECT])
    config = write(tmp_path / "destinations.json", {"destinations": {
        "profiles": {"type": "batch_profile", "project_key": PROFILE_PROJECT, "rest_key": "env:LIVE_TEST_BATCH_REST_KEY"},
        "batch_web": {"type": "batch", "api_key": "ssm:/prod/usersync/batch_web_api_key",
                      "rest_key": "env:LIVE_TEST_BATCH_REST_KEY"},
        "batch_android": {"type": "batch", "api_key": "secretsmanager:prod/usersync/batch#android_api_key",
                          "rest_key": "env:LIVE_TEST_BATCH_REST_KEY"},
        "clevertap_in": {"type": "clevertap", "account_id": CLEVERTAP_ACCOUNT,
                         "passcode": "ssm:/prod/usersync/clevertap_passcode", "region": CLEVERTAP_REGION},
    }})
    secrets_file = write(tmp_path / "secrets.json", {
        "ssm:/prod/usersync/batch_web_api_key": vendor_keys["web_api_key"],
        "secretsmanager:prod/usersync/batch#android_api_key": vendor_keys["android_api_key"],
        "ssm:/prod/usersync/clevertap_passcode": vendor_keys["clevertap_passcode"],
    })
    users = tmp_path / "users.jsonl"
    users.write_text("\n".join(json.dumps(record) for record in [
        {"user_id": "u1", "attributes": {"plan": "gold", "age": 36}},
        {"user_id": "u2", "attributes": {"Plan": "bad name"}},  # Batch refuses upper-case attribute names
        {"user_id": "u3", "attributes": {"signup": {"$date": "yesterday-ish"}}},  # invalid for every vendor
        {"user_id": "u4", "attributes": {"plan": "silver"}},
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"

    monkeypatch.setenv("LIVE_TEST_BATCH_REST_KEY", vendor_keys["rest"])
    with batch, clevertap, profiles:
        monkeypatch.setenv("BATCH_API_URL", batch.url)
        monkeypatch.setenv("BATCH_PROFILE_API_URL", profiles.url)
        monkeypatch.setenv("CLEVERTAP_API_URL", f"{clevertap.url}/{{region}}")  # it serves /<region>/1/upload
        monkeypatch.delenv("BATCH_AUDIENCE_API_URL", raising=False)
        result = runner.invoke(app, ["run", "--live", "--config", config, "--secrets", secrets_file,
                                     "--failed-out", str(out), str(users)])

        assert result.exit_code == 1, result.output  # some records are meant to fail
        for app_name in ("web", "android"):
            assert batch.profile(app_name, "u1")["attributes"] == {"plan": "gold", "age": 36}
            assert batch.profile(app_name, "u4")["attributes"] == {"plan": "silver"}
            assert batch.profile(app_name, "u2") is None and batch.profile(app_name, "u3") is None
        assert clevertap.profile(CLEVERTAP_ACCOUNT, "u1")["plan"] == "gold"
        assert clevertap.profile(CLEVERTAP_ACCOUNT, "u2")["Plan"] == "bad name"  # CleverTap takes that name
        assert clevertap.profile(CLEVERTAP_ACCOUNT, "u4")["plan"] == "silver"
        assert clevertap.profile(CLEVERTAP_ACCOUNT, "u3") is None
        assert profiles.profile(PROFILE_PROJECT, "u1")["attributes"] == {"plan": "gold", "age": 36}
        assert profiles.profile(PROFILE_PROJECT, "u4")["attributes"] == {"plan": "silver"}
        assert profiles.profile(PROFILE_PROJECT, "u2") is None and profiles.profile(PROFILE_PROJECT, "u3") is None
        assert {c.route for c in profiles.calls} == {"profiles.mass_update"}  # a file: mass-update

    # before running, one line says where the records go
    live_line = next(line for line in result.output.splitlines() if "SENT to the real vendors" in line)
    batch_host, clevertap_host = batch.url.split("://")[1], clevertap.url.split("://")[1]
    assert f"batch_web → {batch_host} (from BATCH_API_URL)" in live_line
    assert f"batch_android → {batch_host}" in live_line
    assert f"profiles → {profiles.url.split('://')[1]} (from BATCH_PROFILE_API_URL)" in live_line
    assert f"clevertap_in → {clevertap_host} (from CLEVERTAP_API_URL)" in live_line

    # out.jsonl: exactly the rejected records, one envelope per line
    envelopes = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    rejected = {(e["source"]["line"], e.get("destination"), e["error"]["code"]) for e in envelopes}
    assert len(envelopes) == len(rejected)
    assert {(line, destination) for line, destination, _ in rejected} == {
        (2, "batch_web"), (2, "batch_android"), (2, "profiles"), (3, None)}
    assert {code for line, _, code in rejected if line == 2} == {"VENDOR_RULE"}
    assert {code for line, _, code in rejected if line == 3} == {"INVALID_RECORD"}
    assert all(e["record"]["user_id"] == {2: "u2", 3: "u3"}[e["source"]["line"]] for e in envelopes)

    for value in vendor_keys.values():
        assert value not in result.output
        assert value not in out.read_text(encoding="utf-8")


def test_live_needs_a_config(tmp_path):
    result = runner.invoke(app, ["run", "--live", "--message", '{"user_id": "u1"}'])
    assert result.exit_code == 2
    assert "--live" in result.output and "--config" in result.output


def test_live_refuses_to_run_when_a_reference_cannot_be_resolved_and_never_prints_a_value(
        tmp_path, monkeypatch, vendor_keys, no_local_simulators):
    def must_not_start(self):
        raise AssertionError("the run started although a reference cannot be resolved")

    monkeypatch.setattr(sandbox_module.LocalSandbox, "start", must_not_start)
    monkeypatch.setenv("LIVE_TEST_SET_KEY", vendor_keys["rest"])
    monkeypatch.delenv("LIVE_TEST_UNSET_KEY", raising=False)
    config = write(tmp_path / "destinations.json", {"destinations": {
        "batch_web": {"type": "batch", "api_key": "ssm:/prod/usersync/batch_web_api_key",
                      "rest_key": "env:LIVE_TEST_SET_KEY"},
        "batch_ios": {"type": "batch", "api_key": "secretsmanager:prod/usersync/batch#ios_api_key",
                      "rest_key": "env:LIVE_TEST_UNSET_KEY"},
    }})
    secrets_file = write(tmp_path / "secrets.json", {
        "ssm:/prod/usersync/batch_web_api_key": vendor_keys["web_api_key"],
        "secretsmanager:prod/usersync/batch#android_api_key": vendor_keys["android_api_key"],  # not ios
    })
    result = runner.invoke(app, ["run", "--live", "--config", config, "--secrets", secrets_file,
                                 "--message", '{"user_id": "u1"}'])
    assert result.exit_code == 2, result.output
    assert "batch_ios.api_key = secretsmanager:prod/usersync/batch#ios_api_key: not in the secrets file" in result.output
    assert "batch_ios.rest_key = env:LIVE_TEST_UNSET_KEY: the environment variable LIVE_TEST_UNSET_KEY is not set" \
        in result.output
    assert "batch_web" not in result.output  # resolved: not reported
    for value in vendor_keys.values():
        assert value not in result.output

    # without a secrets file, an ssm: reference says how to give it
    result = runner.invoke(app, ["run", "--live", "--config", config, "--message", '{"user_id": "u1"}'])
    assert result.exit_code == 2
    assert "batch_web.api_key = ssm:/prod/usersync/batch_web_api_key: give its value in a secrets file " \
           "(--secrets FILE)" in result.output


def test_secrets_without_live_and_a_bad_secrets_file_are_usage_errors(tmp_path, vendor_keys):
    secrets_file = write(tmp_path / "secrets.json", {"ssm:/a": vendor_keys["rest"]})
    result = runner.invoke(app, ["run", "--secrets", secrets_file, "--message", '{"user_id": "u1"}'])
    assert result.exit_code == 2 and "--secrets is for --live runs" in result.output

    config = write(tmp_path / "destinations.json", {"destinations": {
        "batch_web": {"type": "batch", "api_key": "ssm:/a", "rest_key": "env:X"}}})
    bad = write(tmp_path / "bad.json", {"env:X": vendor_keys["rest"], "ssm:/a": "",
                                        "secretsmanager:s": vendor_keys["web_api_key"],
                                        "secretsmanager:s#k": vendor_keys["android_api_key"],
                                        vendor_keys["clevertap_passcode"]: "ssm:/a"})  # key and value swapped
    result = runner.invoke(app, ["run", "--live", "--config", config, "--secrets", bad, "--message", '{"user_id": "u"}'])
    assert result.exit_code == 2, result.output
    for said in ("env:X: env: references are read from the environment", "ssm:/a: its value must be a non-empty string",
                 "secretsmanager:s is given both as a plain secret and with #keys",
                 "1 entry is not named by an ssm:NAME or secretsmanager:NAME[#key] reference"):
        assert said in result.output
    for value in vendor_keys.values():
        assert value not in result.output


def test_failed_out_without_live_writes_the_failed_envelopes(tmp_path):
    out = tmp_path / "failed.jsonl"
    records = [{"user_id": "ok"}, {"user_id": "x", "attributes": {"when": {"$date": "soon"}}}]
    result = runner.invoke(app, ["run", "--failed-out", str(out), "--message", json.dumps(records)])
    assert result.exit_code == 1, result.output
    envelopes = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(e["record"]["user_id"], e["error"]["code"], e["source"]["index"]) for e in envelopes] == [
        ("x", "INVALID_RECORD", 1)]

    result = runner.invoke(app, ["run", "--failed-out", str(tmp_path / "missing" / "f.jsonl"),
                                 "--message", json.dumps(records)])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_secrets_are_stored_in_the_local_stack_as_the_cloud_holds_them():
    from usersync_dev.local.stack import LocalAwsStack

    values = {"ssm:/prod/a": "value-a", "secretsmanager:prod/doc#one": "1", "secretsmanager:prod/doc#two": "2",
              "secretsmanager:prod/plain": "value-plain"}
    with LocalAwsStack() as stack:
        store_secrets(stack, values)
        parameter = stack.client("ssm").get_parameter(Name="/prod/a", WithDecryption=True)["Parameter"]
        assert (parameter["Type"], parameter["Value"]) == ("SecureString", "value-a")
        manager = stack.client("secretsmanager")
        assert json.loads(manager.get_secret_value(SecretId="prod/doc")["SecretString"]) == {"one": "1", "two": "2"}
        assert manager.get_secret_value(SecretId="prod/plain")["SecretString"] == "value-plain"


def test_references_and_targets_are_read_from_the_config(tmp_path):
    config = {"destinations": {
        "b": {"type": "batch", "api_key": "ssm:/k", "rest_key": "literal-rest-key"},
        "a": {"type": "batch_audience", "api_key": "env:A_KEY", "rest_key": "secretsmanager:s#rest"},
        "c": {"type": "clevertap", "account_id": "ACC", "passcode": "ssm:/p", "region": "us1"},
        "e": {"type": "clevertap", "account_id": "ACC", "passcode": "ssm:/p"},
    }}
    assert unresolved(config, {"ssm:/k": "v", "ssm:/p": "v", "secretsmanager:s#rest": "v"}, {"A_KEY": "x"}) == []
    assert unresolved(config, {"ssm:/k": "v", "ssm:/p": "v"}, {}) == [
        "a.api_key = env:A_KEY: the environment variable A_KEY is not set",
        "a.rest_key = secretsmanager:s#rest: not in the secrets file",
    ]
    assert [str(t) for t in targets(config, {})] == [
        "b → api.batch.com", "a → api.batch.com", "c → us1.api.clevertap.com", "e → api.clevertap.com"]
    assert [str(t) for t in targets(config, {"BATCH_API_URL": "http://localhost:1/x"})][:2] == [
        "b → localhost:1 (from BATCH_API_URL)", "a → localhost:1 (from BATCH_API_URL)"]
    # the live line says what the vendor clients do
    from usersync.vendors.batch.client import DEFAULT_BASE_URL
    from usersync.vendors.clevertap.client import base_url as clevertap_base_url

    assert [t.url for t in targets(config, {})] == [DEFAULT_BASE_URL, DEFAULT_BASE_URL, clevertap_base_url("us1"),
                                                    clevertap_base_url("eu1")]
    secrets_file = tmp_path / "s.json"
    secrets_file.write_text('{"ssm:/k": "v", "secretsmanager:s#rest": "w"}')
    assert read_secrets_file(secrets_file) == {"ssm:/k": "v", "secretsmanager:s#rest": "w"}
