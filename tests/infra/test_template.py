"""template.yaml: it validates, it builds without Docker, and it keeps the promises users rely on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.infra

SECRET_LOOKING = re.compile(r"secret|passw|passcode|token|api_?key|rest_?key|credential", re.IGNORECASE)


def resources_of(template: dict, resource_type: str) -> dict[str, dict]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def function_setting(template: dict, function: dict, name: str) -> Any:
    """A function's own setting, else the one from Globals (as SAM merges them)."""
    return function["Properties"].get(name, template.get("Globals", {}).get("Function", {}).get(name))


def parameter_default(template: dict, value: Any) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def sqs_events(template: dict):
    """(function logical id, function, event properties) for every SQS event source."""
    for lid, function in resources_of(template, "AWS::Serverless::Function").items():
        for event in (function["Properties"].get("Events") or {}).values():
            if event["Type"] == "SQS":
                yield lid, function, event["Properties"]


# --- the tools accept it ----------------------------------------------------------------------


def test_sam_validate_lint_passes(run_sam, template_path: Path):
    result = run_sam("validate", "--lint", "--template-file", str(template_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_sam_build_makes_a_layer_for_python313_x86_64(sam_build: Path):
    layer = sam_build / "UsersyncLayer" / "python"
    assert (layer / "usersync" / "__init__.py").is_file()
    assert (layer / "pydantic_core").is_dir()
    # The compiled core must be the Lambda runtime's (CPython 3.13, manylinux x86_64), not this machine's.
    assert list((layer / "pydantic_core").glob("_pydantic_core.cpython-313-x86_64-linux-gnu.so"))
    assert (layer / "aws_lambda_powertools").is_dir()
    assert (layer / "requests").is_dir()
    assert not (layer / "botocore").exists(), "the runtime's boto3 must keep the runtime's botocore"
    assert not list((layer / "usersync").rglob("__pycache__"))


def test_sam_build_keeps_the_function_code_only(sam_build: Path, template_path: Path):
    function = sam_build / "DeliverFunction"
    assert (function / "app.py").is_file()
    # Dependencies come from the layer: nothing vendored beside the handler.
    assert not (function / "pydantic").exists()
    assert not (template_path.parent / "functions" / "deliver" / "requirements.txt").exists()


# --- facts users rely on -----------------------------------------------------------------------


def test_every_sqs_consumer_has_time_to_finish_before_redelivery(template):
    events = list(sqs_events(template))
    assert events, "no function consumes an SQS queue"
    for lid, function, event in events:
        queue_id = event["Queue"]["Fn::GetAtt"][0]
        visibility = template["Resources"][queue_id]["Properties"]["VisibilityTimeout"]
        timeout = function_setting(template, function, "Timeout")
        assert visibility >= 6 * timeout, f"{queue_id}.VisibilityTimeout < 6 × {lid}.Timeout"


def test_every_consumed_queue_parks_poison_messages_after_five_receives(template):
    for _, _, event in sqs_events(template):
        queue_id = event["Queue"]["Fn::GetAtt"][0]
        redrive = template["Resources"][queue_id]["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] >= 5
        dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert template["Resources"][dlq_id]["Type"] == "AWS::SQS::Queue"


def test_sqs_events_report_partial_batch_failures(template):
    for lid, _, event in sqs_events(template):
        assert "ReportBatchItemFailures" in event.get("FunctionResponseTypes", []), lid
        assert 1 <= parameter_default(template, event["BatchSize"]) <= 10_000
        assert 2 <= parameter_default(template, event["ScalingConfig"]["MaximumConcurrency"]) <= 1000


def test_deliver_function_consumes_work_queue_with_tunable_batching(template):
    function = template["Resources"]["DeliverFunction"]
    (event,) = function["Properties"]["Events"].values()
    props = event["Properties"]
    assert props["Queue"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert props["BatchSize"] == {"Ref": "DeliverBatchSize"}
    assert props["MaximumBatchingWindowInSeconds"] == {"Ref": "DeliverBatchingWindowSeconds"}
    assert props["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "DeliverMaxConcurrency"}


def test_default_vendor_pacing_fits_the_vendors_limits_across_the_default_instances(template):
    """Each instance paces itself: the defaults share a vendor's account-wide limit among the instances
    the template allows by default (docs/destinations.md)."""
    from usersync.vendors.batch_profile.destination import DEFAULT_INSTANCES
    from usersync.vendors.clevertap.destination import CleverTapSettings
    from usersync.vendors.clevertap.mapping import MAX_CONCURRENT_CALLS

    deliver = int(template["Parameters"]["DeliverMaxConcurrency"]["Default"])
    chunks = int(template["Parameters"]["ChunkMaxConcurrency"]["Default"])
    # Batch profiles: each instance takes 1 / DEFAULT_INSTANCES of the rate (messages: update, files: mass_update)
    assert DEFAULT_INSTANCES >= max(deliver, chunks)
    assert CleverTapSettings.model_fields["concurrency"].default * max(deliver, chunks) <= MAX_CONCURRENT_CALLS


def test_queues_are_encrypted_and_keep_failures_for_14_days(template):
    queues = resources_of(template, "AWS::SQS::Queue")
    assert {"WorkQueue", "WorkDeadLetterQueue", "FailedRecordsQueue"} <= queues.keys()
    for lid, queue in queues.items():
        props = queue["Properties"]
        encrypted = props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
        assert encrypted, f"{lid} is not encrypted"
        assert props.get("MaximumMessageSize", 262144) >= 262144
    for lid in ("WorkDeadLetterQueue", "FailedRecordsQueue"):
        assert queues[lid]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_tables_are_encrypted_and_recoverable(template):
    tables = resources_of(template, "AWS::DynamoDB::Table")
    assert "StateTable" in tables
    for lid, table in tables.items():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True, lid
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, lid
    state = tables["StateTable"]["Properties"]
    assert state["BillingMode"] == "PAY_PER_REQUEST"
    assert state["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert state["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_runtimes_are_python313_or_newer(template):
    def version(runtime: str) -> tuple[int, ...]:
        match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
        assert match, runtime
        return tuple(map(int, match.groups()))

    for lid, function in resources_of(template, "AWS::Serverless::Function").items():
        assert version(function_setting(template, function, "Runtime")) >= (3, 13), lid
    for lid, layer in resources_of(template, "AWS::Serverless::LayerVersion").items():
        assert all(version(r) >= (3, 13) for r in layer["Properties"]["CompatibleRuntimes"]), lid


def test_no_secret_values_in_parameters_or_environment(template):
    # Secrets are referenced by name (an SSM path, a Secrets Manager name), never passed as values.
    for name, parameter in template.get("Parameters", {}).items():
        if SECRET_LOOKING.search(name):
            names_a_secret = name.endswith(("Name", "Path", "Prefix", "Arn"))
            assert names_a_secret, f"parameter {name} looks like a secret value"
            assert str(parameter.get("Default", "/")).startswith(("/", "usersync/")), name
    functions = [template.get("Globals", {}).get("Function", {})]
    functions += [f["Properties"] for f in resources_of(template, "AWS::Serverless::Function").values()]
    for properties in functions:
        for name in ((properties.get("Environment") or {}).get("Variables") or {}):
            assert not SECRET_LOOKING.search(name), f"environment variable {name} looks like a secret"


def test_policies_name_their_resources(template):
    """Least privilege: no wildcard actions, no Resource "*", kms:Decrypt only through a service."""
    for lid, function in resources_of(template, "AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                assert not any(action.endswith("*") for action in actions), (lid, actions)
                assert statement["Resource"] != "*", (lid, actions)
                if "kms:Decrypt" in actions:
                    assert "kms:ViaService" in str(statement.get("Condition")), lid
