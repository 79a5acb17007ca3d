"""`usersync validate --dry-run`: what CleverTap destinations would take goes to CleverTap's dryRun
(the simulator here), which checks it without writing anything."""

import json

import pytest
from typer.testing import CliRunner

from usersync_dev.cli import app, commands  # noqa: F401 - registers the commands
from usersync_dev.local.sandbox import CLEVERTAP_ACCOUNT, CLEVERTAP_REGION

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_dry_run_reports_what_only_clevertap_checks_and_writes_nothing(sandbox, tmp_path):
    config = tmp_path / "destinations.json"
    config.write_text(json.dumps({"destinations": {"clevertap": {
        "type": "clevertap", "account_id": CLEVERTAP_ACCOUNT, "passcode": sandbox.keys["clevertap_passcode"],
        "region": CLEVERTAP_REGION}}}))
    users = tmp_path / "users.jsonl"
    users.write_text("\n".join(json.dumps(r) for r in [
        {"user_id": "ok-1", "attributes": {"Email": "ada@example.com"}},
        {"user_id": "bad-email", "attributes": {"Email": "not an email"}},
        {"user_id": "ok-2", "attributes": {"plan": "gold"}},
    ]) + "\n")

    result = runner.invoke(app, ["validate", "--dry-run", "--config", str(config), "--json", str(users)])
    assert result.exit_code == 1, result.output
    [report] = json.loads(result.stdout)
    [problem] = report["problems"]
    assert problem["where"] == "users.jsonl:2" and problem["destination"] == "clevertap"
    assert problem["vendor_code"] == 515  # the simulator's Email check, from CleverTap's page
    assert report["would_send"] == {"clevertap": 2}
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "ok-1") is None  # dryRun writes nothing
    assert [call.route for call in sandbox.clevertap.calls] == ["upload"]


def test_without_dry_run_nothing_is_sent(sandbox, tmp_path):
    users = tmp_path / "users.jsonl"
    users.write_text(json.dumps({"user_id": "u", "attributes": {"plan": "gold"}}) + "\n")
    result = runner.invoke(app, ["validate", str(users)])
    assert result.exit_code == 0, result.output
    assert sandbox.clevertap.calls == [] and sandbox.batch.calls == []
