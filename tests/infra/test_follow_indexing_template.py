"""The follow-indexing function and the sparse index it reads: scheduled, least privilege, built."""

from __future__ import annotations

from pathlib import Path

import pytest

from usersync.stores.tokens import PENDING_ATTRIBUTE, PENDING_INDEXING_INDEX

pytestmark = pytest.mark.infra


def statements(function: dict) -> list[dict]:
    return [s for policy in function["Properties"]["Policies"] if isinstance(policy, dict)
            for s in policy.get("Statement", [])]


def test_pending_indexing_tokens_have_a_sparse_index_keyed_as_the_store_writes_them(template):
    table = template["Resources"]["StateTable"]["Properties"]
    [index] = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == PENDING_INDEXING_INDEX]
    assert index["KeySchema"][0] == {"AttributeName": PENDING_ATTRIBUTE, "KeyType": "HASH"}
    assert {"AttributeName": PENDING_ATTRIBUTE, "AttributeType": "S"} in table["AttributeDefinitions"]
    assert {"destination", "token", "audience"} <= set(index["Projection"]["NonKeyAttributes"])


def test_the_follow_up_runs_every_minute_within_its_period(template):
    function = template["Resources"]["FollowIndexingFunction"]["Properties"]
    [event] = function["Events"].values()
    assert event["Type"] == "Schedule" and event["Properties"]["Schedule"] == "rate(1 minute)"
    assert function["Timeout"] <= 60


def test_the_follow_up_may_query_the_index_and_update_tokens_nothing_more(template):
    function = template["Resources"]["FollowIndexingFunction"]
    dynamodb = {a: s["Resource"] for s in statements(function)
                for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]) if a.startswith("dynamodb:")}
    assert dynamodb == {"dynamodb:Query": {"Fn::Sub": "${StateTable.Arn}/index/" + PENDING_INDEXING_INDEX},
                        "dynamodb:UpdateItem": {"Fn::GetAtt": ["StateTable", "Arn"]}}
    assert not any("sqs:" in str(s["Action"]) for s in statements(function))


def test_the_local_stack_creates_the_index(local_stack, local_resources):
    table = local_stack.client("dynamodb").describe_table(TableName=local_resources["StateTable"]["name"])["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == [PENDING_INDEXING_INDEX]


def test_sam_build_packages_the_follow_up_function_alone(sam_build: Path, template_path: Path):
    assert (sam_build / "FollowIndexingFunction" / "app.py").is_file()
    assert not (template_path.parent / "functions" / "follow_indexing" / "requirements.txt").exists()
