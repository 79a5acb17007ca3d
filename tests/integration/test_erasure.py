"""Erasure: a deletion record erases a person at every vendor it reaches, through messages and files,
in order with the person's changes (the last action wins, as the vendors do), and leaves a receipt
per destination: confirmed with the vendor's token, or why not."""

from __future__ import annotations

import json

import pytest

from usersync.stores.erasures import ErasureReceipts
from usersync_dev.local.sandbox import AUDIENCE_APP, CLEVERTAP_ACCOUNT, PROFILE_PROJECT
from usersync_dev.simulators.server import Fault

pytestmark = pytest.mark.integration

EVERY = ("batch_android", "batch_ios", "batch_ios_audiences", "clevertap")  # the destinations that can erase


@pytest.fixture(autouse=True)
def erasing_destinations(sandbox, request):
    """The sandbox's destinations but its Batch project, whose Profile API cannot delete (its own test below)."""
    if "keeps_batch_profile" not in request.keywords:
        destinations = {n: d for n, d in sandbox.config["destinations"].items() if d["type"] != "batch_profile"}
        sandbox.put_config({**sandbox.config, "destinations": destinations})


def receipts(sandbox, user_id):
    store = ErasureReceipts(sandbox.resources["StateTable"]["name"], sandbox.stack.client("dynamodb"))
    return {r["destination"]: r for r in store.of(user_id)}


def profiled(sandbox, user_id, install_id):
    """The person everywhere: a profile at both Batch apps and CleverTap, an install id in an audience."""
    sandbox.publish([json.dumps([{"user_id": user_id, "attributes": {"plan": "pro"}},
                                 {"audience": "vip_users", "install_id": install_id, "action": "add"}])])
    assert sandbox.deliver_pump().drain().failed_messages == 0
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, user_id) and sandbox.batch.profile("ios", user_id)
    assert install_id in sandbox.batch_audience.members(AUDIENCE_APP, "vip_users")


def erased_everywhere(sandbox, user_id, install_id) -> bool:
    return (sandbox.batch.profile("ios", user_id) is None and sandbox.batch.profile("android", user_id) is None
            and sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, user_id) is None
            and install_id not in sandbox.batch_audience.members(AUDIENCE_APP, "vip_users"))


def test_a_deletion_message_erases_the_person_everywhere_and_leaves_a_receipt(sandbox):
    profiled(sandbox, "ada", "i-ada")
    sandbox.publish([json.dumps({"user_id": "ada", "delete": True, "install_ids": ["i-ada"]})])
    assert sandbox.deliver_pump().drain().failed_messages == 0
    assert erased_everywhere(sandbox, "ada", "i-ada") and sandbox.failed_records() == []
    found = receipts(sandbox, "ada")
    assert sorted(found) == list(EVERY) and {r["state"] for r in found.values()} == {"CONFIRMED"}
    batch_tokens = {t["token"] for t in sandbox.batch.tokens}
    assert found["batch_ios"]["token"] in batch_tokens and found["batch_android"]["token"] in batch_tokens
    assert all(r["requested_at"] <= r["at"] for r in found.values())
    assert set(found["clevertap"]) >= {"pk", "sk", "destination", "state", "at", "requested_at", "expires_at"}
    assert "i-ada" not in json.dumps(found, default=str)  # the receipt keeps no more than the id to find it


def test_a_deletion_file_erases_each_row_in_bulk(sandbox):
    for n in range(3):
        profiled(sandbox, f"row-{n}", f"i-row-{n}")
    sandbox.files.upload("incoming/erase.csv", "user_id,delete,install_ids\n" +
                         "".join(f"row-{n},true,i-row-{n}\n" for n in range(3)))
    sandbox.files.run()
    assert all(erased_everywhere(sandbox, f"row-{n}", f"i-row-{n}") for n in range(3))
    deletes = [c for c in sandbox.batch.calls if c.route == "data.bulk_delete"]
    assert len(deletes) == 2 and {c.items for c in deletes} == {3}  # one call per app for the three
    report = sandbox.files.report("incoming/erase.csv")
    assert report["state"] == "DONE" and {n: c["delivered"] for n, c in report["destinations"].items()} == \
        dict.fromkeys(EVERY, 3)
    assert all(receipts(sandbox, f"row-{n}")["clevertap"]["state"] == "CONFIRMED" for n in range(3))


def test_changes_after_a_deletion_recreate_the_profile_and_a_deletion_after_changes_wins(sandbox):
    profiled(sandbox, "bob", "i-bob")
    profiled(sandbox, "cy", "i-cy")
    sandbox.publish([json.dumps([
        {"user_id": "bob", "delete": True},
        {"user_id": "bob", "attributes": {"fresh": "start"}},
        {"user_id": "cy", "attributes": {"plan": "free"}},
        {"user_id": "cy", "delete": True},
    ])])
    assert sandbox.deliver_pump().drain().failed_messages == 0
    assert sandbox.batch.profile("ios", "bob")["attributes"] == {"fresh": "start"}  # the old plan is gone
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "bob") == {"fresh": "start"}
    assert sandbox.batch.profile("ios", "cy") is None and sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "cy") is None


def test_a_vendor_that_refuses_the_deletion_leaves_a_receipt_saying_why(sandbox):
    profiled(sandbox, "dee", "i-dee")
    sandbox.batch.inject(Fault.status(403), route="data.bulk_delete")  # the first app's delete
    sandbox.publish([json.dumps({"user_id": "dee", "delete": True, "destinations": ["batch_ios", "clevertap"]})])
    sandbox.deliver_pump().drain()
    found = receipts(sandbox, "dee")
    assert found["clevertap"]["state"] == "CONFIRMED"
    assert found["batch_ios"]["state"] == "FAILED" and found["batch_ios"]["code"] == "VENDOR_REJECTED"
    [failure] = sandbox.failed_records()
    assert (failure["destination"], failure["error"]["vendor_status"], failure["retryable"]) == ("batch_ios", 403, True)


def test_cleverTap_deletions_go_100_identities_a_call(sandbox):
    sandbox.put_config({"destinations": {"clevertap": {**sandbox.config["destinations"]["clevertap"],
                                                       "batch_size": 1000}}})  # CleverTap alone
    sandbox.publish([json.dumps([{"user_id": f"z{n}", "delete": True} for n in range(250)])])
    assert sandbox.deliver_pump().drain().failed_messages == 0
    deletes = [c for c in sandbox.clevertap.calls if c.route == "delete"]
    assert sorted(c.items for c in deletes) == [50, 100, 100]
    assert len(sandbox.clevertap.deleted) == 250


def cli(sandbox, *args: str):
    from typer.testing import CliRunner

    from usersync_dev.cli import app, commands  # noqa: F401 - registers the commands
    with sandbox.stack.unchecked():  # the command line opens a kept local stack with fixed local keys
        return CliRunner().invoke(app, [*args, "--endpoint-url", sandbox.stack.endpoint_url])


def test_usersync_erase_queues_the_people_of_a_file_and_usersync_erasure_shows_the_receipt(sandbox, tmp_path):
    profiled(sandbox, "eve", "i-eve")
    ids = tmp_path / "forget.txt"
    ids.write_text("eve i-eve\n\nfay\n")
    queued = cli(sandbox, "erase", "--ids", str(ids))
    assert queued.exit_code == 0, queued.output
    assert "erasure of 2 people" in queued.output
    assert cli(sandbox, "erasure", "eve").exit_code == 1  # nothing confirmed yet: still queued

    assert sandbox.deliver_pump().drain().failed_messages == 0
    assert erased_everywhere(sandbox, "eve", "i-eve")
    shown = cli(sandbox, "erasure", "eve", "--json")
    assert shown.exit_code == 0, shown.output
    found = {r["destination"]: r for r in json.loads(shown.stdout)}
    assert sorted(found) == list(EVERY) and {r["state"] for r in found.values()} == {"CONFIRMED"}
    table = cli(sandbox, "erasure", "fay")
    assert table.exit_code == 0 and "clevertap" in table.output and "CONFIRMED" in table.output


def test_usersync_erasure_exits_1_and_says_why_when_a_vendor_did_not_confirm(sandbox):
    sandbox.clevertap.inject(Fault.status(400), route="delete")
    sandbox.publish([json.dumps({"user_id": "gus", "delete": True, "destinations": ["clevertap"]})])
    sandbox.deliver_pump().drain()
    shown = cli(sandbox, "erasure", "gus")
    assert shown.exit_code == 1
    assert "FAILED" in shown.output and "VENDOR_REJECTED" in shown.output


@pytest.mark.keeps_batch_profile
def test_a_batch_project_refuses_the_deletion_and_its_receipt_says_so_while_the_others_confirm(sandbox):
    profiled(sandbox, "hal", "i-hal")
    assert sandbox.batch_profile.profile(PROFILE_PROJECT, "hal")
    sandbox.publish([json.dumps({"user_id": "hal", "delete": True})])
    sandbox.deliver_pump().drain()
    found = receipts(sandbox, "hal")
    assert {d: r["state"] for d, r in found.items()} == {
        "batch_android": "CONFIRMED", "batch_ios": "CONFIRMED", "clevertap": "CONFIRMED", "batch_profile": "FAILED"}
    assert found["batch_profile"]["code"] == "UNSUPPORTED_OPERATION" and "Batch" in found["batch_profile"]["reason"]
    [failure] = sandbox.failed_records()
    assert (failure["destination"], failure["error"]["code"], failure["error"]["field"]) == \
        ("batch_profile", "UNSUPPORTED_OPERATION", "delete")
    assert sandbox.batch_profile.profile(PROFILE_PROJECT, "hal")  # still there: the receipt does not pretend
