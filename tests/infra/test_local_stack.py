"""LocalAwsStack: the local queues, tables and buckets agree with template.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest

from usersync_dev.local.stack import LocalAwsStack, load_template, physical_name

pytestmark = pytest.mark.integration

# Properties compared one to one with the queue attributes moto reports.
QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize", "DelaySeconds")


def of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {lid: r["Properties"] for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def test_loader_reads_cloudformation_short_tags(tmp_path: Path):
    path = tmp_path / "template.yaml"
    path.write_text(
        "A: !Ref Thing\n"
        "B: !GetAtt Queue.Arn\n"
        "C: !Sub arn:${AWS::Partition}:ssm:::parameter${Name}\n"
        "D: !Join [',', [a, !Ref X]]\n"
        "E: !If [IsProd, 1, 2]\n"
    )
    assert load_template(path) == {
        "A": {"Ref": "Thing"},
        "B": {"Fn::GetAtt": ["Queue", "Arn"]},
        "C": {"Fn::Sub": "arn:${AWS::Partition}:ssm:::parameter${Name}"},
        "D": {"Fn::Join": [",", ["a", {"Ref": "X"}]]},
        "E": {"Fn::If": ["IsProd", 1, 2]},
    }


def test_physical_names_are_kebab_case_logical_ids():
    assert physical_name("WorkQueue") == "usersync-work-queue"
    assert physical_name("WorkDeadLetterQueue") == "usersync-work-dead-letter-queue"
    assert physical_name("FailedRecordsQueue") == "usersync-failed-records-queue"
    assert physical_name("StateTable") == "usersync-state-table"
    assert physical_name("S3InputBucket") == "usersync-s3-input-bucket"


def test_every_queue_table_and_bucket_of_the_template_is_created(template, local_resources):
    expected = (of_type(template, "AWS::SQS::Queue").keys() | of_type(template, "AWS::DynamoDB::Table").keys()
                | of_type(template, "AWS::S3::Bucket").keys())
    assert local_resources.keys() == expected
    for lid, names in local_resources.items():
        assert names["name"] == physical_name(lid)
    assert local_resources["WorkQueue"]["name"] == "usersync-work-queue"
    assert local_resources["StateTable"]["name"] == "usersync-state-table"


def test_queues_have_the_template_attributes(template, local_stack, local_resources):
    sqs = local_stack.client("sqs")
    for lid, props in of_type(template, "AWS::SQS::Queue").items():
        url = local_resources[lid]["url"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["QueueArn"] == local_resources[lid]["arn"]
        for name in QUEUE_ATTRIBUTES:
            if name in props:
                assert int(attributes[name]) == props[name], (lid, name)
        # moto keeps the SSE flag; if a version stops reporting it, it has nothing to compare.
        if "SqsManagedSseEnabled" in attributes:
            assert attributes["SqsManagedSseEnabled"] == json.dumps(props["SqsManagedSseEnabled"]), lid
        if "RedrivePolicy" in props:
            redrive = json.loads(attributes["RedrivePolicy"])
            dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert redrive["deadLetterTargetArn"] == local_resources[dlq_id]["arn"]
            assert int(redrive["maxReceiveCount"]) == props["RedrivePolicy"]["maxReceiveCount"]
        else:
            assert "RedrivePolicy" not in attributes


def test_work_queue_parks_a_poison_message_in_its_dlq(template, local_stack, local_resources):
    sqs = local_stack.client("sqs")
    work, dlq = local_resources["WorkQueue"]["url"], local_resources["WorkDeadLetterQueue"]["url"]
    max_receives = template["Resources"]["WorkQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    sqs.send_message(QueueUrl=work, MessageBody='{"user_id": "poison"}')
    for _ in range(max_receives):  # each receive without a delete is one failed attempt
        assert sqs.receive_message(QueueUrl=work, VisibilityTimeout=0)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=work, VisibilityTimeout=0)
    (parked,) = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert parked["Body"] == '{"user_id": "poison"}'


def test_tables_have_the_template_schema_billing_sse_and_ttl(template, local_stack, local_resources):
    dynamodb = local_stack.client("dynamodb")
    for lid, props in of_type(template, "AWS::DynamoDB::Table").items():
        name = local_resources[lid]["name"]
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["TableArn"] == local_resources[lid]["arn"]
        assert table["KeySchema"] == props["KeySchema"]
        sort = lambda items: sorted(items, key=lambda a: a["AttributeName"])  # noqa: E731
        assert sort(table["AttributeDefinitions"]) == sort(props["AttributeDefinitions"])
        assert table["BillingModeSummary"]["BillingMode"] == props["BillingMode"]
        if props.get("SSESpecification", {}).get("SSEEnabled"):
            assert table["SSEDescription"]["Status"] == "ENABLED"
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
            assert ttl["TimeToLiveStatus"] == "ENABLED"
        pitr = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_environment_sends_an_unconfigured_boto3_to_the_stack(
    template, local_stack, local_resources, monkeypatch
):
    env = local_stack.environment("DeliverFunction")
    assert env["WORK_QUEUE_URL"] == local_resources["WorkQueue"]["url"]
    assert env["FAILED_RECORDS_QUEUE_URL"] == local_resources["FailedRecordsQueue"]["url"]
    assert env["STATE_TABLE"] == local_resources["StateTable"]["name"]
    assert env["AWS_ENDPOINT_URL"] == local_stack.endpoint_url
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    # Every variable the template gives the function is there, with the parameters' defaults.
    assert template["Globals"]["Function"]["Environment"]["Variables"].keys() <= env.keys()
    assert env["DESTINATIONS_CONFIG"] == template["Parameters"]["DestinationsConfigParameterName"]["Default"]

    # A session made from this environment alone (as usersync.wiring makes one at cold start) reaches
    # the local queue, as the function's role.
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    boto3.session.Session().client("sqs").send_message(QueueUrl=env["FAILED_RECORDS_QUEUE_URL"], MessageBody="x")
    failed_records = local_resources["FailedRecordsQueue"]["url"]
    received = local_stack.client("sqs").receive_message(QueueUrl=failed_records)["Messages"]
    assert [m["Body"] for m in received] == ["x"]


def test_create_resources_twice_is_harmless(local_stack, local_resources):
    assert local_stack.create_resources() == local_resources


def test_buckets_and_new_resources_come_from_the_template_too(tmp_path: Path):
    """Later slices add buckets, FIFO queues and indexed tables: the same code creates them."""
    path = tmp_path / "template.yaml"
    path.write_text(
        """
Parameters:
  InputSuffix: {Type: String, Default: .csv}
Resources:
  InputBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}
      VersioningConfiguration: {Status: Enabled}
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: !GetAtt FilesQueue.Arn
            Filter: {S3Key: {Rules: [{Name: suffix, Value: !Ref InputSuffix}]}}
  FilesQueue:
    Type: AWS::SQS::Queue
    Properties: {SqsManagedSseEnabled: true, VisibilityTimeout: 900}
  OrderedQueue:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true, ContentBasedDeduplication: true}
  JobsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: status, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by-status
          KeySchema: [{AttributeName: status, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Handler:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          INPUT_BUCKET: !Ref InputBucket
          FILES_QUEUE_ARN: !GetAtt FilesQueue.Arn
          JOBS: !Sub "${JobsTable}:${AWS::Region}"
"""
    )
    with LocalAwsStack(path) as stack:
        resources = stack.create_resources()
        assert resources["InputBucket"]["name"] == "usersync-input-bucket"
        assert resources["OrderedQueue"]["name"] == "usersync-ordered-queue.fifo"

        s3 = stack.client("s3")
        encryption = s3.get_bucket_encryption(Bucket="usersync-input-bucket")
        assert encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert s3.get_bucket_versioning(Bucket="usersync-input-bucket")["Status"] == "Enabled"

        # The notification reaches the queue; moto (like S3) first sends an s3:TestEvent.
        s3.put_object(Bucket="usersync-input-bucket", Key="in/users.csv", Body=b"user_id\n1\n")
        s3.put_object(Bucket="usersync-input-bucket", Key="in/ignored.txt", Body=b"")
        sqs = stack.client("sqs")
        messages = sqs.receive_message(QueueUrl=resources["FilesQueue"]["url"], MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"]) for m in messages["Messages"]]
        # Keys arrive URL-encoded (moto encodes "/" as %2F, S3 leaves it): consumers unquote_plus them.
        keys = [unquote_plus(r["s3"]["object"]["key"]) for b in bodies for r in b.get("Records", [])]
        assert keys == ["in/users.csv"]

        table = stack.client("dynamodb").describe_table(TableName="usersync-jobs-table")["Table"]
        assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by-status"
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}

        env = stack.environment()
        assert env["INPUT_BUCKET"] == "usersync-input-bucket"
        assert env["FILES_QUEUE_ARN"] == resources["FilesQueue"]["arn"]
        assert env["JOBS"] == "usersync-jobs-table:us-east-1"
        assert env["FILES_QUEUE_URL"] == resources["FilesQueue"]["url"]


def test_stack_is_unusable_until_started():
    stack = LocalAwsStack()
    with pytest.raises(RuntimeError, match="not started"):
        stack.client("sqs")
