"""What production needs beside the functions: logs kept for a set time, alarms on what a person must
act on, a dashboard of the metrics the functions emit, and queues reached over TLS only."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.infra

DEAD_LETTER_QUEUES = ("WorkDeadLetterQueue", "FileEventsDeadLetterQueue", "ChunkDeadLetterQueue")


def of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def alarms_on(template: dict, namespace: str, metric: str) -> dict[str, str]:
    """The resource each alarm on `namespace`/`metric` watches (a queue's or a function's logical id)."""
    watched = {}
    for lid, alarm in of_type(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if props["Namespace"] == namespace and props["MetricName"] == metric:
            [dimension] = props["Dimensions"]
            value = dimension["Value"]
            watched[lid] = value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"]
    return watched


# --- logs ---------------------------------------------------------------------------------------


def test_every_function_logs_to_its_own_log_group_with_a_retention(template):
    groups = of_type(template, "AWS::Logs::LogGroup")
    retention = template["Parameters"]["LogRetentionDays"]
    assert retention["Default"] == 30 and 30 in retention["AllowedValues"]
    used = []
    for lid, function in of_type(template, "AWS::Serverless::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, lid
        assert groups[group]["Properties"]["LogGroupName"]["Fn::Sub"].endswith(f"/{lid}"), lid
        used.append(group)
    assert sorted(used) == sorted(groups), "one log group per function, none unused"


# --- alarms -------------------------------------------------------------------------------------


def test_every_dead_letter_queue_has_an_alarm_on_its_depth(template):
    dead_letter_queues = {props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                          for props in (q["Properties"] for q in of_type(template, "AWS::SQS::Queue").values())
                          if "RedrivePolicy" in props}
    assert dead_letter_queues == set(DEAD_LETTER_QUEUES)
    watched = alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert set(watched.values()) == dead_letter_queues
    for lid in watched:
        props = template["Resources"][lid]["Properties"]
        assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold", lid


def test_the_failed_records_queue_has_an_alarm_on_its_oldest_record(template):
    watched = alarms_on(template, "AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert list(watched.values()) == ["FailedRecordsQueue"]
    [lid] = watched
    age = template["Parameters"]["FailedRecordsAlarmAgeSeconds"]
    retention = template["Resources"]["FailedRecordsQueue"]["Properties"]["MessageRetentionPeriod"]
    assert template["Resources"][lid]["Properties"]["Threshold"] == {"Ref": "FailedRecordsAlarmAgeSeconds"}
    assert age["Default"] < retention and age["MaxValue"] <= retention, "it must fire before records are dropped"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_alarm_on_its_errors_and_throttles(template, metric):
    functions = set(of_type(template, "AWS::Serverless::Function"))
    assert sorted(alarms_on(template, "AWS/Lambda", metric).values()) == sorted(functions)


def test_every_alarm_notifies_the_optional_topic_and_says_what_to_do(template):
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    notify = {"Fn::If": ["NotifyAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for lid, alarm in of_type(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == notify and props["OKActions"] == notify, lid
        assert props["TreatMissingData"] == "notBreaching", lid
        assert len(props["AlarmDescription"]) > 80, f"{lid}: say what it means and what to do"


def test_the_docs_name_every_alarm(template, template_path):
    """docs/operations.md's "What to watch" matches what the template creates."""
    docs = (template_path.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    watch = docs[docs.index("## What to watch"):]
    watch = watch[:watch.index("\n## ", 1)]
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        name = alarm["Properties"]["AlarmName"]["Fn::Sub"].removeprefix("${AWS::StackName}")
        assert name in watch, f"docs/operations.md, What to watch: no row for the alarm <stack>{name}"


# --- the dashboard ------------------------------------------------------------------------------


def emitted_per_destination(capsys, monkeypatch) -> dict:
    """One EMF blob of the per-destination metrics, as the deliver and chunk functions print them."""
    from usersync.delivery.service import _count_per_destination

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    report = SimpleNamespace(delivered={"batch_ios": 2}, retries=[SimpleNamespace(destination="batch_ios")],
                             calls=[SimpleNamespace(destination="batch_ios", outcome="throttled", latency_s=0.2)],
                             failed=[SimpleNamespace(destination="batch_ios")])
    capsys.readouterr()
    _count_per_destination(report)
    [blob] = map(json.loads, capsys.readouterr().out.splitlines())
    return blob


def dashboard_body(template: dict) -> dict:
    """The dashboard's JSON, its ${...} substitutions filled with placeholders."""
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body = re.sub(r"\$\{!", "${", re.sub(r"\$\{(?!!)[^}]+\}", "X", body))
    return json.loads(body)


def test_the_dashboard_shows_every_metric_the_functions_emit_per_destination(template, capsys, monkeypatch):
    blob = emitted_per_destination(capsys, monkeypatch)
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    [dimensions] = directive["Dimensions"]
    assert "destination" in dimensions
    schema = "{" + ",".join([directive["Namespace"], *sorted(dimensions)]) + "}"
    searches = [m["expression"] for widget in dashboard_body(template)["widgets"]
                for row in widget.get("properties", {}).get("metrics", []) for m in row
                if isinstance(m, dict) and "expression" in m]
    for metric in (m["Name"] for m in directive["Metrics"]):
        assert any(f'{schema} MetricName="{metric}"' in search for search in searches), metric
    for search in searches:  # nothing that no function emits
        assert schema in search and re.search(r'MetricName="(\w+)"', search)[1] in blob, search


def test_the_dashboard_shows_every_alarm_and_its_address_is_an_output(template):
    [alarms] = [w for w in dashboard_body(template)["widgets"] if w["type"] == "alarm"]
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for lid in of_type(template, "AWS::CloudWatch::Alarm"):
        assert "${" + lid + ".Arn}" in body, lid
    assert len(alarms["properties"]["alarms"]) == len(of_type(template, "AWS::CloudWatch::Alarm"))
    assert "#dashboards:name=${Dashboard}" in template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]


# --- transport ----------------------------------------------------------------------------------


def test_every_queue_refuses_requests_without_tls(template):
    denied = set()
    for lid, policy in of_type(template, "AWS::SQS::QueuePolicy").items():
        queues = {q["Ref"] for q in policy["Properties"]["Queues"]}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                    "Bool": {"aws:SecureTransport": False}}:
                assert statement["Principal"] == "*" and statement["Action"] == "sqs:*", lid
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                assert {r["Fn::GetAtt"][0] for r in resources} == queues, f"{lid}: the statement covers its queues"
                denied |= queues
    assert denied == set(of_type(template, "AWS::SQS::Queue"))
