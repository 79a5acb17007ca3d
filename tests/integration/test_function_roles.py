"""Every function runs under its own execution role, holding exactly its template policy: take one
action the function needs out of template.yaml and the pipeline fails locally with AccessDenied, as it
would in AWS; with the template as it is, the same run succeeds."""

import copy
import json
import logging
import traceback
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError

from usersync_dev.local.iam import role_name
from usersync_dev.local.sandbox import LocalSandbox
from usersync_dev.local.stack import physical_name

pytestmark = pytest.mark.integration
TOKENS_PER_PROFILE_RECORD = 4  # the default config: two Batch apps, a Batch project, CleverTap


@pytest.fixture(scope="module")
def iam_sandbox():
    with LocalSandbox() as sandbox:
        yield sandbox


def without(template: dict, function: str, action: str) -> dict:
    """`template` with `action` taken out of `function`'s inline policy statements."""
    changed = copy.deepcopy(template)
    policies = changed["Resources"][function]["Properties"]["Policies"]
    for policy in policies:
        for statement in policy.get("Statement", []):
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            if action in actions:
                statement["Action"] = [a for a in actions if a != action]
                if not statement["Action"]:
                    policy["Statement"].remove(statement)
                return changed
    raise AssertionError(f"template.yaml does not grant {function} {action}: this test's premise is gone")


def deliver_a_message(sandbox):
    sandbox.publish([json.dumps({"user_id": "u-iam", "attributes": {"plan": "pro"}})])
    stats = sandbox.deliver_pump().drain(max_invocations=1)
    assert stats.failed_messages == 0, "the message was not delivered"
    assert len(sandbox.tokens()) == TOKENS_PER_PROFILE_RECORD


def ingest_a_file(sandbox):
    sandbox.files.upload("incoming/iam.csv", "user_id,plan\r\nu-1,pro\r\nu-2,free\r\n")
    stats = sandbox.files.run(max_rounds=1)
    job = sandbox.files.job("incoming/iam.csv")
    assert job and job["state"] == "DONE", f"the file's job: {job}"
    # A chunk retried after the vendors accepted it is not sent again (the ledger), so DONE is not
    # enough: the first attempt must have saved its tokens.
    assert stats.chunk_retries == 0 and len(sandbox.tokens()) == TOKENS_PER_PROFILE_RECORD


def follow_an_audience(sandbox):
    audiences = "batch_ios_audiences"
    sandbox.put_config({"destinations": {audiences: sandbox.config["destinations"][audiences]}})
    sandbox.publish([json.dumps({"audience": "vip_users", "install_id": "i-1", "action": "add"})])
    sandbox.deliver_pump().drain()
    followed = sandbox.follow_indexing()
    assert followed["applied"] + followed["in_progress"] == 1


DENIED = "{role} is not authorized to perform: {action}"  # moto's words, as AWS's
S3_DENIED = "(403) when calling the HeadObject operation: Forbidden"  # a HEAD answer has no body to say more

# One action each function cannot do without, a run that needs it, and how the refusal reads.
CASES = [
    # An accepted call's token is a Put in the TransactWriteItems that writes its ledger marks.
    pytest.param("DeliverFunction", "dynamodb:PutItem", deliver_a_message, DENIED, id="deliver-tokens"),
    pytest.param("DeliverFunction", "dynamodb:UpdateItem", deliver_a_message, DENIED, id="deliver-ledger-marks"),
    pytest.param("DeliverFunction", "dynamodb:BatchGetItem", deliver_a_message, DENIED, id="deliver-ledger"),
    pytest.param("DeliverChunkFunction", "dynamodb:BatchGetItem", ingest_a_file, DENIED, id="chunk-ledger"),
    # Its tokens and chunk marks are Puts in TransactWriteItems: AWS checks PutItem for each (moto alone would not).
    pytest.param("DeliverChunkFunction", "dynamodb:PutItem", ingest_a_file, DENIED, id="chunk-tokens-transaction"),
    pytest.param("DeliverChunkFunction", "dynamodb:Query", ingest_a_file, DENIED, id="chunk-report"),
    pytest.param("IngestFileFunction", "s3:GetObject", ingest_a_file, S3_DENIED, id="file-read"),
    # Taken from its StateTable statement only: IdempotencyTable's still grants PutItem (moto alone
    # would not tell the two tables apart).
    pytest.param("IngestFileFunction", "dynamodb:PutItem", ingest_a_file, DENIED, id="file-job-table"),
    pytest.param("FollowIndexingFunction", "dynamodb:Query", follow_an_audience, DENIED, id="follow-pending"),
]


@pytest.mark.parametrize(("function", "action", "run", "refusal"), CASES)
def test_a_function_missing_one_grant_is_refused_and_with_the_template_runs(iam_sandbox, caplog, function, action,
                                                                           run, refusal):
    sandbox, template = iam_sandbox, iam_sandbox.stack.template
    caplog.set_level(logging.DEBUG)
    try:
        sandbox.stack.template = without(template, function, action)
        sandbox.reset()  # the roles are made anew from the changed template; every function starts cold
        with pytest.raises((AssertionError, ClientError)) as failed:
            run(sandbox)
    finally:
        sandbox.stack.template = template
    seen = "\n".join([caplog.text, str(failed.value),
                      *("".join(traceback.format_exception(*r.exc_info)) for r in caplog.records if r.exc_info)])
    role = f"assumed-role/{physical_name(role_name(function))}/{function}"
    assert refusal.format(role=role, action=action) in seen

    caplog.clear()
    sandbox.reset()
    run(sandbox)
    assert "AccessDenied" not in caplog.text


def test_the_sandbox_itself_is_the_administrator_and_anything_else_is_refused(iam_sandbox):
    sandbox = iam_sandbox
    sandbox.reset()
    assert sandbox.stack.client("sts").get_caller_identity()["Arn"].endswith(":user/usersync-local-admin")
    outside = boto3.session.Session()  # made outside a function's cold start: the process's dummy credentials
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        outside.client("sqs").list_queues()
    sandbox.handler("deliver")  # after a cold start, boto3's default session does not keep the function's keys
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        boto3.client("sqs").list_queues()


def test_a_client_a_function_makes_at_cold_start_signs_as_that_function(iam_sandbox, monkeypatch):
    """Even one from boto3's default session, which keeps the first credentials it reads."""
    from usersync_dev.local import sandbox as sandbox_module

    sandbox, seen = iam_sandbox, {}

    def cold_start(name):
        seen[name] = boto3.client("sts").get_caller_identity()["Arn"]
        return SimpleNamespace(handler=None)

    monkeypatch.setattr(sandbox_module, "load_function", cold_start)
    sandbox.reset()
    sandbox.function("deliver")
    sandbox.function("deliver_chunk")
    assert seen == {name: f"arn:aws:sts::123456789012:assumed-role/{physical_name(role_name(function))}/{function}"
                    for name, function in (("deliver", "DeliverFunction"), ("deliver_chunk", "DeliverChunkFunction"))}
    sandbox.cold_start()
