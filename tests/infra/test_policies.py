"""The functions' policies: how the local stack turns them into what moto checks (and what it checks
itself for DynamoDB), and the checks neither can make (usersync_dev.local.iam lists them), made here
on the template itself."""

from __future__ import annotations

import fnmatch
import re

import pytest

from usersync_dev.local import iam

pytestmark = pytest.mark.infra


def statements(template: dict, function: str) -> list[dict]:
    return iam.template_policy(template, function)["Statement"]


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def granted(template: dict, function: str, service: str) -> list[tuple[str, dict, dict]]:
    """(action, resource, statement) for each of the function's Allow grants on `service`."""
    return [(action, resource, s) for s in statements(template, function) if s["Effect"] == "Allow"
            for action in listed(s["Action"]) if action.startswith(f"{service}:")
            for resource in listed(s["Resource"])]


FUNCTIONS = ["DeliverFunction", "DeliverChunkFunction", "IngestFileFunction", "FollowIndexingFunction"]


def test_every_function_is_covered_here(template):
    assert sorted(iam.functions(template)) == sorted(FUNCTIONS)


# --- what the local stack gives moto ------------------------------------------------------------


def test_sam_policy_templates_are_expanded_as_sam_expands_them(template):
    [send] = [s for s in statements(template, "DeliverFunction") if "sqs:SendMessage*" in listed(s["Action"])]
    assert send["Resource"] == {"Fn::Sub": ["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}",
                                            {"queueName": {"Fn::GetAtt": ["FailedRecordsQueue", "QueueName"]}}]}


def test_for_moto_widens_only_what_moto_cannot_scope_and_names_operations_as_moto_does():
    policy = {"Statement": [
        {"Sid": "Table", "Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:BatchWriteItem"],
         "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/t"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:123456789012:q"},
        {"Sid": "Both", "Effect": "Allow", "Action": ["s3:GetObject", "ssm:GetParameter"],
         "Resource": ["arn:aws:s3:::b/in/*", "arn:aws:ssm:us-east-1:123456789012:parameter/p"]},
    ]}
    moto = iam.for_moto(policy)["Statement"]
    assert moto[0] == {"Sid": "Table", "Effect": "Allow", "Resource": "*",  # moto asks DynamoDB about "*"
                       "Action": ["dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:TransactWriteItems"]}
    assert moto[1]["Action"] == ["sqs:SendMessage", "sqs:SendMessageBatch"]
    assert moto[1]["Resource"] == "arn:aws:sqs:us-east-1:123456789012:q"  # SQS is checked per queue
    assert moto[2]["Action"] == ["s3:GetObject"] and moto[2]["Resource"] == policy["Statement"][2]["Resource"]
    assert moto[3] == {"Sid": "BothAnyResource", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": "*"}


def test_dynamodb_requests_are_authorized_per_table_index_and_transaction_item_as_in_aws():
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/"
    touches = lambda operation, request: list(iam.DynamoDBCheck.touches(operation, request, table))  # noqa: E731
    assert touches("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "state", "Item": {}}}, {"Update": {"TableName": "state", "Key": {}}},
        {"ConditionCheck": {"TableName": "jobs", "Key": {}}}]}) == [
        ("dynamodb:PutItem", table + "state"), ("dynamodb:UpdateItem", table + "state"),
        ("dynamodb:ConditionCheckItem", table + "jobs")]
    assert touches("BatchWriteItem", {"RequestItems": {"a": [], "b": []}}) == [
        ("dynamodb:BatchWriteItem", table + "a"), ("dynamodb:BatchWriteItem", table + "b")]
    assert touches("Query", {"TableName": "state", "IndexName": "PendingIndexing"}) == [
        ("dynamodb:Query", table + "state/index/PendingIndexing")]
    assert touches("GetItem", {"TableName": "state", "Key": {}}) == [("dynamodb:GetItem", table + "state")]


def test_a_deny_moto_cannot_scope_is_refused_rather_than_widened():
    with pytest.raises(ValueError, match="cannot be checked locally"):
        iam.for_moto({"Statement": [{"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "arn:t"}]})


# --- what moto cannot check: resources of DynamoDB, SSM and Secrets Manager statements -----------


def table_of(resource: dict, template: dict) -> str:
    """The table (or table/index/<name>) a DynamoDB statement's resource names, as written."""
    if "Fn::GetAtt" in resource:
        table, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn"
    else:
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/(\w+)", resource["Fn::Sub"])
        assert match, resource
        table, index = match.groups()
        indexes = template["Resources"][table]["Properties"].get("GlobalSecondaryIndexes", [])
        assert index in [i["IndexName"] for i in indexes], f"{table} has no index {index}"
    assert template["Resources"][table]["Type"] == "AWS::DynamoDB::Table", table
    return table


@pytest.mark.parametrize("function", FUNCTIONS)
def test_dynamodb_grants_name_the_tables_the_function_is_given(template, function):
    grants = granted(template, function, "dynamodb")
    tables = {table_of(resource, template) for _, resource, _ in grants}
    properties = template["Resources"][function]["Properties"]
    variables = {**template["Globals"]["Function"]["Environment"]["Variables"],
                 **(properties.get("Environment") or {}).get("Variables", {})}
    given = {v["Ref"] for v in variables.values()
             if isinstance(v, dict) and template["Resources"].get(v.get("Ref"), {}).get("Type") == "AWS::DynamoDB::Table"}
    assert tables <= given, f"{function} is granted tables it is not told about: {tables - given}"
    assert tables, f"{function} uses no table?"


@pytest.mark.parametrize("function", ["DeliverFunction", "DeliverChunkFunction", "FollowIndexingFunction"])
def test_parameters_and_secrets_are_read_only_where_the_config_and_the_secrets_live(template, function):
    ssm = {resource["Fn::Sub"] for _, resource, _ in granted(template, function, "ssm")}
    prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    assert ssm == {f"{prefix}${{DestinationsConfigParameterName}}", f"{prefix}${{SecretsPathPrefix}}*"}
    assert {action for action, _, _ in granted(template, function, "ssm")} == {"ssm:GetParameter", "ssm:GetParameters"}
    [(action, secret, _)] = granted(template, function, "secretsmanager")
    assert action == "secretsmanager:GetSecretValue"
    assert secret["Fn::Sub"].endswith(":secret:usersync/*")  # a name and the random suffix Secrets Manager adds


# --- what moto cannot tell apart: 403 or 404 for an object that is gone ---------------------------


def read_prefixes(template: dict, function: str) -> set[str]:
    """The key prefixes (as written, ${IngestPrefix}...) the function may read objects under."""
    prefixes = set()
    for action, resource, _ in granted(template, function, "s3"):
        if action in ("s3:GetObject", "s3:GetObjectVersion"):
            prefixes.add(resource["Fn::Sub"].removeprefix("${IngestBucket.Arn}/"))
    return prefixes


@pytest.mark.parametrize("function", ["IngestFileFunction", "DeliverChunkFunction"])
def test_a_function_reading_objects_may_list_them_so_a_deleted_one_is_a_404(template, function):
    reads = read_prefixes(template, function)
    assert reads
    [(_, bucket, statement)] = [g for g in granted(template, function, "s3") if g[0] == "s3:ListBucket"]
    assert bucket == {"Fn::GetAtt": ["IngestBucket", "Arn"]}
    listable = [p["Fn::Sub"] if isinstance(p, dict) else p
                for p in listed(statement["Condition"]["StringLike"]["s3:prefix"])]
    for prefix in reads:
        assert any(fnmatch.fnmatchcase(prefix, pattern) for pattern in listable), f"{function} cannot list {prefix}"
