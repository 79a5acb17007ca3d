"""template.yaml, the S3 file path: what users and operators rely on."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.infra


def props(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id]["Properties"]


def test_only_the_ingest_prefix_notifies_the_file_events_queue(template):
    bucket = props(template, "IngestBucket")
    (notification,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Queue"] == {"Fn::GetAtt": ["FileEventsQueue", "Arn"]}
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "IngestPrefix"}}]
    prefix = template["Parameters"]["IngestPrefix"]["Default"]
    assert prefix == "incoming/" and not "reports/".startswith(prefix) and not "work/".startswith(prefix)


def test_the_ingest_bucket_is_private_encrypted_and_versioned(template):
    bucket = props(template, "IngestBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert template["Resources"]["IngestBucket"]["DependsOn"] == "FileEventsQueuePolicy"


def test_only_s3_from_this_account_and_bucket_may_send_file_events(template):
    (statement,) = [s for s in props(template, "FileEventsQueuePolicy")["PolicyDocument"]["Statement"]
                    if s["Effect"] == "Allow"]  # the other denies requests without TLS (test_operations.py)
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # The bucket's ARN is built from the same expression as its name (no dependency cycle).
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"][1] == \
        props(template, "IngestBucket")["BucketName"]["Fn::Sub"][1]


def test_chunk_jobs_run_one_per_invocation_well_inside_the_timeout(template):
    chunk = props(template, "DeliverChunkFunction")
    (event,) = chunk["Events"].values()
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["ChunkQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 1
    assert chunk["Timeout"] <= 300
    ingest = props(template, "IngestFileFunction")
    (event,) = ingest["Events"].values()
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["FileEventsQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 1


def test_idempotency_has_its_own_table_keyed_as_powertools_expects(template):
    table = props(template, "IdempotencyTable")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    variables = props(template, "IngestFileFunction")["Environment"]["Variables"]
    assert variables["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert variables["CHUNK_QUEUE_URL"] == {"Ref": "ChunkQueue"}


def test_functions_may_write_only_outside_the_ingest_prefix(template):
    written = {}
    for function in ("IngestFileFunction", "DeliverChunkFunction", "DeliverFunction"):
        for policy in props(template, function)["Policies"]:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if "s3:PutObject" in statement["Action"]:
                    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                    assert all(r["Fn::Sub"].split("}/")[1] in ("reports/*", "work/*", "failed-records/*")
                               for r in resources), function
                    written.setdefault(function, set()).update(r["Fn::Sub"].split("}/")[1] for r in resources)
    # A record too large for its failed-records envelope goes to S3 from both delivering functions.
    assert "failed-records/*" in written["DeliverFunction"] and "failed-records/*" in written["DeliverChunkFunction"]


def test_failed_records_written_to_s3_expire_after_their_envelopes(template):
    rules = {r["Id"]: r for r in props(template, "IngestBucket")["LifecycleConfiguration"]["Rules"]}
    rule = rules["ExpireFailedRecords"]
    assert rule["Prefix"] == "failed-records/" and rule["Status"] == "Enabled"
    queue = props(template, "FailedRecordsQueue")
    assert rule["ExpirationInDays"] * 86400 > queue["MessageRetentionPeriod"]
    for function in ("DeliverFunction", "DeliverChunkFunction"):
        assert props(template, function)["Environment"]["Variables"]["FAILED_RECORDS_BUCKET"] == {"Ref": "IngestBucket"}


def test_envelopes_are_sized_for_the_failed_records_queue(template):
    from usersync.stores.failed_records import MAX_ENVELOPE_BYTES
    from usersync_dev.replay import WORK_MESSAGE_MAX_BYTES

    assert props(template, "FailedRecordsQueue")["MaximumMessageSize"] == MAX_ENVELOPE_BYTES
    assert props(template, "WorkQueue")["MaximumMessageSize"] == WORK_MESSAGE_MAX_BYTES
