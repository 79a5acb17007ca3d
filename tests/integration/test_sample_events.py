"""Every function has sample events in events/<function>/ (the shapes `sam local invoke -e` users
start from: see docs/deploy.md). Each sample is run through its real handler here, and what it
answers and what it did are asserted: records delivered to the vendor simulators, jobs and reports
written, or nothing at all, as each sample means."""

import json

import pytest

from usersync_dev.local.pump import FUNCTIONS_DIR, REPO_ROOT, LocalLambdaContext
from usersync_dev.local.sandbox import CLEVERTAP_ACCOUNT, PROFILE_PROJECT

pytestmark = pytest.mark.integration
EVENTS_DIR = REPO_ROOT / "events"
FUNCTIONS = sorted(path.parent.name for path in FUNCTIONS_DIR.glob("*/app.py"))
SAMPLES = [(function, path.name) for function in FUNCTIONS
           for path in sorted((EVENTS_DIR / function).glob("*.json"))]

# What the S3 samples name: the sample file, at a version of the stack's bucket no local run has.
SAMPLE_FILE = EVENTS_DIR / "ingest_file" / "users 2026 été.csv"
KEY = "incoming/users 2026 été.csv"
VERSION = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
NOTHING_HANDED_BACK = {"batchItemFailures": []}  # the partial batch response of an SQS-triggered function

CHECKED: dict[tuple[str, str], str] = {}


def checks(function, name):
    """Marks the test that asserts what the sample events/<function>/<name> does."""
    def register(test):
        CHECKED[(function, name)] = test.__name__
        return test
    return register


def sample(function, name):
    return json.loads((EVENTS_DIR / function / name).read_text(encoding="utf-8"))


def invoke(sandbox, function, event):
    return sandbox.handler(function)(event, LocalLambdaContext(f"usersync-{function}"))


def vendor_calls(sandbox):
    return {type(s).__name__: [(c.route, c.status, c.items) for c in s.calls] for s in sandbox.simulators}


NO_VENDOR_CALL = {"BatchCustomDataSimulator": [], "BatchAudienceSimulator": [], "BatchProfileSimulator": [],
                  "CleverTapSimulator": []}


def state_items(sandbox):
    dynamodb = sandbox.stack.client("dynamodb")
    return dynamodb.scan(TableName=sandbox.resources["StateTable"]["name"])["Items"]


def test_every_function_has_a_sample_event():
    assert FUNCTIONS, "no function found"
    for function in FUNCTIONS:
        assert list((EVENTS_DIR / function).glob("*.json")), f"events/{function}/ has no sample event"


def test_every_sample_event_has_its_outcome_asserted():
    assert sorted(CHECKED) == SAMPLES, "a sample event without a test: add one marked @checks(function, name)"


# -- deliver -------------------------------------------------------------------------------------


@checks("deliver", "sqs-batch.json")
def test_the_deliver_sample_delivers_each_record_where_it_can_go(sandbox):
    event = sample("deliver", "sqs-batch.json")
    first_message = event["Records"][0]["messageId"]

    assert invoke(sandbox, "deliver", event) == NOTHING_HANDED_BACK

    # Batch: one call per app with every user; grace-1906 names batch_ios alone
    assert sorted(vendor_calls(sandbox)["BatchCustomDataSimulator"]) == [("data.bulk", 200, 3), ("data.bulk", 200, 4)]
    assert (sandbox.batch.users_count("ios"), sandbox.batch.users_count("android")) == (4, 3)
    assert sandbox.batch.profile("android", "grace-1906") is None
    assert sandbox.batch.profile("ios", "grace-1906")["attributes"] == {"nickname": "Grace", "plan": "team"}
    vincent = {
        "attributes": {"nickname": "Vincent", "age": 55, "level_progress": 45.09, "is_subscribed": True,
                       "last_purchase": "2016-01-10T10:00:00", "signup": "2016-08-31T15:09:21",
                       "avatar": "https://cdn.example.com/u/42.png"},  # referrer: null removed it
        "attribute_types": {"nickname": "string", "age": "integer", "level_progress": "float",
                            "is_subscribed": "boolean", "last_purchase": "date", "signup": "date", "avatar": "url"},
        "tags": {"hobbies": ["chess", "cooking"], "locations": ["Paris"]},
    }
    assert sandbox.batch.profile("ios", "vincent-42") == sandbox.batch.profile("android", "vincent-42") == vincent
    assert sandbox.batch.profile("ios", "johnny-7")["attributes"] == {"nickname": "BeGood", "age": 30}
    assert sandbox.batch.profile("ios", "ada-1815")["tags"] == {"hobbies": ["maths"]}

    # CleverTap: ada-1815 only; the two others use what CleverTap cannot do, and say so
    assert vendor_calls(sandbox)["CleverTapSimulator"] == [("upload", 200, 1)]
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "ada-1815") == {"nickname": "Ada", "plan": "pro",
                                                                        "hobbies": ["maths"]}
    # The Batch project (Profile API, update for messages): vincent-42 and ada-1815; johnny-7's overwrite it cannot do
    assert vendor_calls(sandbox)["BatchProfileSimulator"] == [("profiles.update", 202, 2)]
    assert sandbox.batch_profile.profile(PROFILE_PROJECT, "vincent-42")["attributes"] == {
        "nickname": "Vincent", "age": 55, "level_progress": 45.09, "is_subscribed": True,
        "last_purchase": "2016-01-10T10:00:00Z", "signup": "2016-08-31T15:09:21Z",
        "avatar": "https://cdn.example.com/u/42.png", "hobbies": ["chess", "cooking"], "locations": ["Paris"]}

    failures = sorted(sandbox.failed_records(), key=lambda f: (f["source"]["index"], f["destination"]))
    assert [(f["record"]["user_id"], f["destination"], f["error"]["code"], f["error"]["field"], f["retryable"],
             f["source"]["message_id"]) for f in failures] == [
        ("vincent-42", "clevertap", "UNSUPPORTED_OPERATION", "attributes.referrer", False, first_message),
        ("johnny-7", "batch_profile", "UNSUPPORTED_OPERATION", "overwrite", False, first_message),
        ("johnny-7", "clevertap", "UNSUPPORTED_OPERATION", "overwrite", False, first_message)]

    # user records are not audience changes: the audience destination is not called
    assert vendor_calls(sandbox)["BatchAudienceSimulator"] == []
    assert sorted((t["destination"], t["token_kind"], t["record_count"]) for t in sandbox.tokens()) == [
        ("batch_android", "data", 3), ("batch_ios", "data", 4), ("batch_profile", "update", 2),
        ("clevertap", "upload", 1)]


# -- follow_indexing -----------------------------------------------------------------------------


@checks("follow_indexing", "scheduled.json")
def test_the_schedule_sample_follows_the_pending_indexing_tokens(sandbox):
    event = sample("follow_indexing", "scheduled.json")

    # nothing pending: nothing asked
    assert invoke(sandbox, "follow_indexing", event) == {"applied": 0, "in_progress": 0, "errors": 0, "deferred": 0}
    assert vendor_calls(sandbox) == NO_VENDOR_CALL

    # one audience change delivered: its token is asked about, Batch is still indexing it
    sandbox.publish([json.dumps({"audience": "vip_users", "install_id": "i-1", "action": "add"})])
    sandbox.deliver_pump().drain()
    assert sandbox.batch_audience.indexing_polls >= 1  # the simulator answers IN_PROGRESS first
    assert invoke(sandbox, "follow_indexing", event) == {"applied": 0, "in_progress": 1, "errors": 0, "deferred": 0}
    assert [c for c in vendor_calls(sandbox)["BatchAudienceSimulator"] if c[0] == "audience.indexing"] == [
        ("audience.indexing", 200, 0)]
    [token] = sandbox.tokens()
    assert (token["indexing_state"], token["indexing_checks"]) == ("IN_PROGRESS", 1)


# -- ingest_file and deliver_chunk ---------------------------------------------------------------


@checks("ingest_file", "s3-object-created.json")
def test_the_s3_sample_refuses_its_object_when_that_version_does_not_exist(sandbox):
    event = sample("ingest_file", "s3-object-created.json")

    assert invoke(sandbox, "ingest_file", event) == NOTHING_HANDED_BACK  # no retry brings the object back

    error = f"s3://usersync-ingest-bucket/{KEY} (version {VERSION}) no longer exists"
    job = sandbox.files.job(KEY)
    assert (job["state"], job["error"], job["version"], job["format"], job["size"]) == \
        ("FAILED", error, VERSION, "csv", 111)
    assert job["chunks"] == {"total": 0, "done": 0} and job["records"]["read"] == 0
    report = sandbox.files.report(KEY)
    assert (report["state"], report["error"]) == ("FAILED", error)
    assert sandbox.files.keys() == [job["report"]]  # the report is all it wrote
    assert sandbox.queue_bodies("ChunkQueue") == [] and vendor_calls(sandbox) == NO_VENDOR_CALL


@checks("ingest_file", "s3-event-direct.json")
def test_s3s_own_event_not_through_sqs_is_ingested_the_same_way(sandbox):
    """A direct trigger or a test invoke: the same job, refused for the same reason, and no exception."""
    answer = invoke(sandbox, "ingest_file", sample("ingest_file", "s3-event-direct.json"))
    error = f"s3://usersync-ingest-bucket/{KEY} (version {VERSION}) no longer exists"
    assert [(i["state"], i["error"]) for i in answer["ingested"]] == [("FAILED", error)]
    assert (sandbox.files.job(KEY)["state"], sandbox.files.report(KEY)["error"]) == ("FAILED", error)
    assert sandbox.queue_bodies("ChunkQueue") == [] and vendor_calls(sandbox) == NO_VENDOR_CALL


@checks("ingest_file", "s3-test-event.json")
def test_the_s3_test_event_sample_is_acknowledged_and_does_nothing(sandbox):
    assert invoke(sandbox, "ingest_file", sample("ingest_file", "s3-test-event.json")) == NOTHING_HANDED_BACK
    assert state_items(sandbox) == [] and sandbox.files.keys() == []  # no job, no report
    assert sandbox.queue_bodies("ChunkQueue") == [] and vendor_calls(sandbox) == NO_VENDOR_CALL


@checks("deliver_chunk", "chunk-job.json")
def test_the_chunk_sample_fails_its_job_when_its_object_does_not_exist(sandbox):
    assert invoke(sandbox, "deliver_chunk", sample("deliver_chunk", "chunk-job.json")) == NOTHING_HANDED_BACK

    error = f"chunk 0 (line 2): s3://usersync-ingest-bucket/{KEY} no longer exists"
    job = sandbox.files.job(KEY)
    assert (job["state"], job["error"]) == ("FAILED", error)  # no retry can help: not handed back to SQS
    report = sandbox.files.report(KEY)
    assert (report["state"], report["error"]) == ("FAILED", error)
    assert sandbox.files.keys() == [f"reports/users 2026 été.csv/{VERSION}.json"]
    assert vendor_calls(sandbox) == NO_VENDOR_CALL and sandbox.tokens() == [] and sandbox.failed_records() == []


def test_with_the_sample_file_uploaded_the_s3_sample_plans_the_chunk_sample_which_delivers_it(sandbox):
    """docs/deploy.md: upload events/ingest_file/users 2026 été.csv, then set the events' version to
    the one S3 gave it. The samples describe that file exactly."""
    data = SAMPLE_FILE.read_bytes()
    version = sandbox.files.upload(KEY, data)
    notification = sample("ingest_file", "s3-object-created.json")
    body = json.loads(notification["Records"][0]["body"])
    assert body["Records"][0]["s3"]["object"]["size"] == len(data)
    body["Records"][0]["s3"]["object"]["versionId"] = version
    notification["Records"][0]["body"] = json.dumps(body)

    assert invoke(sandbox, "ingest_file", notification) == NOTHING_HANDED_BACK

    job = sandbox.files.job(KEY)
    assert (job["state"], job["version"], job["chunks"]["total"]) == ("RUNNING", version, 1)
    [queued] = sandbox.queue_bodies("ChunkQueue")
    chunk = sample("deliver_chunk", "chunk-job.json")
    expected = {**json.loads(chunk["Records"][0]["body"]), "job_version": version, "object_version": version}
    assert json.loads(queued) == expected  # the chunk sample is this file's chunk job

    chunk["Records"][0]["body"] = queued
    assert invoke(sandbox, "deliver_chunk", chunk) == NOTHING_HANDED_BACK

    job = sandbox.files.job(KEY)
    assert (job["state"], job["records"]["read"], job["records"]["rejected"]) == ("DONE", 2, 0)
    for app in ("ios", "android"):
        assert sandbox.batch.profile(app, "vincent-42")["attributes"] == {"nickname": "Vincent", "age": 55}
        assert sandbox.batch.profile(app, "vincent-42")["tags"] == {"hobbies": ["chess", "cooking"]}
        assert sandbox.batch.profile(app, "ada-1815")["attributes"] == {"nickname": "Lovelace, Ada", "age": 36}
    assert sandbox.clevertap.profile(CLEVERTAP_ACCOUNT, "ada-1815") == {"nickname": "Lovelace, Ada", "age": 36,
                                                                        "hobbies": ["maths"]}
    assert sandbox.failed_records() == []
