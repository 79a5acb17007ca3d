"""The embedded local AWS stack: moto in server mode on 127.0.0.1, holding the queues, tables
and buckets that ``template.yaml`` declares, so the real handlers run locally with no AWS account.

    with LocalAwsStack() as stack:
        resources = stack.create_resources()      # {"WorkQueue": {"name", "url", "arn"}, ...}
        os.environ.update(stack.environment("DeliverFunction"))  # what it gets in the cloud, pointed here
        stack.client("sqs").send_message(QueueUrl=resources["WorkQueue"]["url"], MessageBody="{}")

The template is the single source of truth: every ``AWS::SQS::Queue``, ``AWS::DynamoDB::Table``
and ``AWS::S3::Bucket`` in it is created with the same properties, named
``usersync-<kebab-case logical id>`` (``WorkQueue`` -> ``usersync-work-queue``).

IAM is enforced as in AWS (moto's own access control): every ``AWS::Serverless::Function`` gets an
execution role holding its ``Policies`` (usersync_dev.local.iam), ``environment(function)`` carries
that role's credentials, and moto refuses what the role does not grant. ``client()`` is the stack's
administrator, for setting things up and looking at them; ``unchecked()`` lets anyone in for a while.

moto keeps its state per process: start one stack per process at a time (``start()`` empties it).
Development only: moto and PyYAML are dev dependencies, not in the Lambda layer.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import yaml

from usersync_dev.local import iam

# dev/usersync_dev/local/stack.py -> the repository root, in a source checkout.
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"

DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}

ADMIN = "usersync-local-admin"
# moto lets this many requests through unsigned once told to check IAM: those that create the admin.
ADMIN_SETUP_REQUESTS = 3

QUEUE = "AWS::SQS::Queue"
TABLE = "AWS::DynamoDB::Table"
BUCKET = "AWS::S3::Bucket"


# --- reading the template -------------------------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation short tags (!Ref, !GetAtt, !Sub...) as their
    long forms ({"Ref": ...}, {"Fn::GetAtt": [...]}, {"Fn::Sub": ...})."""


def _construct_intrinsic(loader: _TemplateLoader, tag: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag in ("Ref", "Condition"):
        return {tag: value}
    if tag == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag}": value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Read a CloudFormation/SAM template, short tags included, as plain dicts and lists."""
    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass


def physical_name(logical_id: str, prefix: str = "usersync") -> str:
    """``WorkDeadLetterQueue`` -> ``usersync-work-dead-letter-queue``."""
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", logical_id).lower()
    return f"{prefix}-{kebab}"


def _env_name(logical_id: str) -> str:
    """``StateTable`` -> ``STATE_TABLE``: the template's naming for environment variables."""
    return physical_name(logical_id, prefix="").lstrip("-").replace("-", "_").upper()


class _NotYetCreated(Exception):
    """A property refers to a resource that is created later: try again after it."""


class _Unresolvable(ValueError):
    """A property uses something the local stack cannot evaluate."""


_NO_VALUE = object()  # AWS::NoValue: the property is dropped


# --- the stack ------------------------------------------------------------------------------


class LocalAwsStack:
    """moto server on 127.0.0.1 with the template's queues, tables and buckets."""

    region = "us-east-1"
    account_id = "123456789012"  # moto's default account

    def __init__(self, template: str | Path = DEFAULT_TEMPLATE, *, port: int = 0, prefix: str = "usersync",
                 enforce_iam: bool = True):
        self.template_path = Path(template)
        self.template = load_template(self.template_path)
        self.prefix = prefix
        self.enforce_iam = enforce_iam
        self.resources: dict[str, dict[str, str]] = {}
        self.roles: dict[str, str] = {}  # function logical id -> its execution role's ARN
        self._credentials: dict[str, dict[str, str]] = {}  # function logical id -> its role's credentials
        self._policies: dict[str, dict[str, Any]] = {}  # function logical id -> its policy as the template writes it
        self._callers: dict[str, tuple[str, dict[str, Any]]] = {}  # access key id -> (caller ARN, policy)
        self._auth_before: str | None = None  # moto's process-wide setting, restored on stop()
        self._port = port  # 0: any free port
        self._server: Any = None
        # One botocore session for the stack's life: it keeps the service models it has loaded
        # (a new one per reset would parse them again); reset() changes its credentials.
        self._botocore = botocore.session.Session()
        self._session = boto3.session.Session(botocore_session=self._botocore, region_name=self.region)
        self._clients: dict[str, Any] = {}
        self._endpoint_url: str | None = None

    # lifecycle

    def start(self) -> LocalAwsStack:
        # werkzeug logs every request at INFO; the demo's output is not the place for them.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = _MotoServer(self._port, self.account_id, lambda key: self._callers.get(key))
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint_url = f"http://{host}:{port}"
        self.reset()
        return self

    def reset(self) -> None:
        """Empty every moto backend (they are shared by the whole process), IAM included: the
        administrator and the functions' roles are created anew, with new credentials."""
        self._moto_api("reset")
        self.resources, self.roles, self._credentials, self._policies, self._callers = {}, {}, {}, {}, {}
        # Explicit dummy credentials: never the user's real AWS profile or environment.
        self._use_credentials(DUMMY_CREDENTIALS["aws_access_key_id"], DUMMY_CREDENTIALS["aws_secret_access_key"],
                              DUMMY_CREDENTIALS["aws_session_token"])
        if self.enforce_iam:
            self._create_admin()

    def _use_credentials(self, access_key: str, secret_key: str, token: str | None = None) -> None:
        self._botocore.set_credentials(access_key, secret_key, token)
        self._clients = {}

    def _create_admin(self) -> None:
        """From here on moto checks every request's signature and IAM policies (moto's
        INITIAL_NO_AUTH_ACTION_COUNT), but for the first few: those create the administrator,
        whose credentials `client()` then uses."""
        before = json.loads(self._moto_api("reset-auth", str(ADMIN_SETUP_REQUESTS)))
        if self._auth_before is None:
            self._auth_before = before["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
        setup = self.client("iam")
        setup.create_user(UserName=ADMIN)
        setup.put_user_policy(UserName=ADMIN, PolicyName="everything", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = setup.create_access_key(UserName=ADMIN)["AccessKey"]
        self._use_credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def admin_credentials(self) -> dict[str, str]:
        """The administrator's credentials as the environment variables boto3 reads (a child process
        that looks at the stack, or runs functions on it, as the sandbox does in this one)."""
        frozen = self._botocore.get_credentials().get_frozen_credentials()
        env = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = frozen.token
        return env

    @contextmanager
    def unchecked(self) -> Iterator[None]:
        """moto lets any request in, signed or not, until the block ends (a kept stack read by the
        command line with its fixed local keys)."""
        if not self.enforce_iam:
            yield
            return
        self._moto_api("reset-auth", "inf")
        try:
            yield
        finally:
            self._moto_api("reset-auth", "0")

    def _moto_api(self, path: str, body: str | None = None) -> str:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/{path}", method="POST",
                                         data=body.encode() if body is not None else None,
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request) as answer:
            return answer.read().decode()

    def stop(self) -> None:
        if self._server is not None:
            if self._auth_before is not None:  # moto's setting is the process's: leave it as found
                self._moto_api("reset-auth", self._auth_before)
                self._auth_before = None
            self._server.stop()
            self._server = None
            self._endpoint_url = None
            self._clients = {}

    def __enter__(self) -> LocalAwsStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # access

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("LocalAwsStack is not started: call start() or use it as a context manager")
        return self._endpoint_url

    def client(self, service: str) -> Any:
        """One client per service (boto3 clients are thread-safe), made on first use."""
        self.endpoint_url  # noqa: B018 - raises if not started
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self._endpoint_url)
        return self._clients[service]

    def queue_bodies(self, name: str) -> list[str]:
        """The bodies of every message in queue `name`, in flight or not, without receiving them:
        read from the moto server's state, which runs in this process."""
        from moto.sqs.models import sqs_backends  # dev-only, like the server

        queue = sqs_backends[self.account_id][self.region].get_queue(name)
        return [message.body for message in list(queue._messages)]

    def resource(self, service: str) -> Any:
        self.endpoint_url  # noqa: B018 - raises if not started
        return self._session.resource(service, endpoint_url=self._endpoint_url)

    # resources

    def create_resources(self) -> dict[str, dict[str, str]]:
        """Create every queue, table and bucket of the template; return logical id -> names.

        Queues give ``{"name", "url", "arn"}``, tables and buckets ``{"name", "arn"}``.
        A resource is created after those its properties refer to (a DLQ before its source queue,
        a queue before the bucket that notifies it); then each function's execution role (``roles``).
        Calling it again is harmless.
        """
        creators = {QUEUE: self._create_queue, TABLE: self._create_table, BUCKET: self._create_bucket}
        pending = {
            logical_id: definition
            for logical_id, definition in self.template.get("Resources", {}).items()
            if definition.get("Type") in creators and logical_id not in self.resources
        }
        while pending:
            progress = False
            for logical_id, definition in list(pending.items()):
                try:
                    self.resources[logical_id] = creators[definition["Type"]](
                        logical_id, definition.get("Properties") or {}
                    )
                except _NotYetCreated:
                    continue
                except _Unresolvable as error:
                    raise ValueError(f"{logical_id}: the local stack cannot evaluate {error}") from None
                del pending[logical_id]
                progress = True
            if not progress:
                raise RuntimeError(f"resources that refer to each other in a cycle: {sorted(pending)}")
        if self.enforce_iam:
            for logical_id in iam.functions(self.template):
                if logical_id not in self.roles:
                    self.roles[logical_id] = self._create_role(logical_id)
        return dict(self.resources)

    def _create_role(self, logical_id: str) -> str:
        """The function's execution role: its template policy, as moto checks it (usersync_dev.local.iam)."""
        try:
            self._policies[logical_id] = self._resolve(iam.template_policy(self.template, logical_id))
        except (_NotYetCreated, _Unresolvable) as error:
            raise ValueError(f"{logical_id}'s Policies: the local stack cannot evaluate {error}") from None
        policy = iam.for_moto(self._policies[logical_id])
        client = self.client("iam")
        admin = client.get_user(UserName=ADMIN)["User"]["Arn"]
        name = physical_name(iam.role_name(logical_id), self.prefix)
        arn = client.create_role(RoleName=name, AssumeRolePolicyDocument=iam.trust_policy(admin))["Role"]["Arn"]
        if policy["Statement"]:  # a function without Policies may call nothing
            client.put_role_policy(RoleName=name, PolicyName="template-policies", PolicyDocument=json.dumps(policy))
        return arn

    def function_credentials(self, logical_id: str) -> dict[str, str]:
        """The environment variables Lambda gives the function: its execution role's credentials
        (none when IAM is not enforced)."""
        if not self.enforce_iam:
            return {}
        if logical_id not in self._credentials:
            if logical_id not in self.roles:
                raise KeyError(f"{logical_id}: no such function in the template, or create_resources() not called")
            answer = self.client("sts").assume_role(RoleArn=self.roles[logical_id], RoleSessionName=logical_id)
            credentials = answer["Credentials"]
            self._callers[credentials["AccessKeyId"]] = (answer["AssumedRoleUser"]["Arn"], self._policies[logical_id])
            self._credentials[logical_id] = {
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
            }
        return dict(self._credentials[logical_id])

    def environment(self, function: str | None = None) -> dict[str, str]:
        """The environment the functions get in the cloud, pointed at this stack.

        The template's variables (Globals, then ``function``'s own, or every function's), resolved
        with the local resources and parameter defaults; ``<QUEUE>_URL`` for every queue and
        ``<TABLE>`` / ``<BUCKET>`` names for the others (``WORK_QUEUE_URL``, ``STATE_TABLE``);
        and the AWS settings that send boto3 here, with ``function``'s credentials (without one, or
        with IAM not enforced, dummy credentials, which moto refuses while it enforces IAM).
        """
        if not self.resources:
            raise RuntimeError("call create_resources() first")
        env: dict[str, str] = {}
        for logical_id, names in self.resources.items():
            if "url" in names:
                env[f"{_env_name(logical_id)}_URL"] = names["url"]
            else:
                env[_env_name(logical_id)] = names["name"]

        variables = dict(self._variables(self.template.get("Globals", {}).get("Function", {})))
        for logical_id, definition in self.template.get("Resources", {}).items():
            if definition.get("Type") == "AWS::Serverless::Function" and function in (None, logical_id):
                variables.update(self._variables(definition.get("Properties") or {}))
        for name, value in variables.items():
            try:
                resolved = self._resolve(value)
            except (_NotYetCreated, _Unresolvable):
                continue  # refers to something moto does not hold here (a function's ARN...)
            env[name] = json.dumps(resolved) if isinstance(resolved, bool) else str(resolved)

        env.update(
            AWS_ENDPOINT_URL=self.endpoint_url,
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
            AWS_ACCESS_KEY_ID=DUMMY_CREDENTIALS["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=DUMMY_CREDENTIALS["aws_secret_access_key"],
            AWS_SESSION_TOKEN=DUMMY_CREDENTIALS["aws_session_token"],
            POWERTOOLS_TRACE_DISABLED="true",  # no X-Ray daemon locally
        )
        if function is not None and self.enforce_iam:
            env.update(self.function_credentials(function))
        return env

    @staticmethod
    def _variables(properties: dict[str, Any]) -> dict[str, Any]:
        return (properties.get("Environment") or {}).get("Variables") or {}

    # creators: one per resource type, each mapping CloudFormation properties to API calls

    def _create_queue(self, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        props = self._resolve(props)
        attributes = {
            key: _attribute_value(value)
            for key, value in props.items()
            if key not in ("QueueName", "Tags")  # every other property is an SQS attribute
        }
        name = physical_name(logical_id, self.prefix)
        if props.get("FifoQueue"):
            name += ".fifo"
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=_tags(props))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"name": name, "url": url, "arn": arn}

    def _create_table(self, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        props = self._resolve(props)
        name = physical_name(logical_id, self.prefix)
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        for key in ("ProvisionedThroughput", "TableClass", "DeletionProtectionEnabled"):
            if key in props:
                request[key] = props[key]
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                index_keys = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                request[key] = [{k: v for k, v in index.items() if k in index_keys} for index in props[key]]
        if "SSESpecification" in props:  # CloudFormation's SSEEnabled is the API's Enabled
            sse = props["SSESpecification"]
            request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))} | {
                k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse
            }
        if "StreamSpecification" in props:
            request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        if props.get("Tags"):
            request["Tags"] = props["Tags"]

        dynamodb = self.client("dynamodb")
        try:
            arn = dynamodb.create_table(**request)["TableDescription"]["TableArn"]
        except dynamodb.exceptions.ResourceInUseException:  # created by an earlier call
            return {"name": name, "arn": dynamodb.describe_table(TableName=name)["Table"]["TableArn"]}
        if "TimeToLiveSpecification" in props:
            ttl = props["TimeToLiveSpecification"]
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        pitr = props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled")
        if pitr:
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        return {"name": name, "arn": arn}

    def _create_bucket(self, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        props = self._resolve(props)
        name = physical_name(logical_id, self.prefix)
        s3 = self.client("s3")
        if self.region == "us-east-1":  # the one region that refuses a LocationConstraint
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        if "BucketEncryption" in props:
            rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(r) for r in rules]}
            )
        if "VersioningConfiguration" in props:
            status = props["VersioningConfiguration"]["Status"]
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
        if "PublicAccessBlockConfiguration" in props:
            block = props["PublicAccessBlockConfiguration"]
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
        queues = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations")
        if queues:
            # Like real S3, moto first posts an s3:TestEvent message (no Records) to each queue.
            notifications = {"QueueConfigurations": [_queue_notification(q) for q in queues]}
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=notifications)
        return {"name": name, "arn": f"arn:aws:s3:::{name}"}

    # intrinsic functions: enough of them to read the template's own references

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key == "Ref":
                    return self._ref(argument)
                if key == "Fn::GetAtt":
                    target, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                    return self._get_att(target, attribute)
                if key == "Fn::Sub":
                    return self._sub(argument)
                if key == "Fn::Join":
                    separator, parts = argument
                    return separator.join(str(self._resolve(part)) for part in parts)
                if key == "Fn::Select":
                    index, items = argument
                    return self._resolve(items)[int(self._resolve(index))]
                if key == "Fn::Split":
                    separator, text = argument
                    return str(self._resolve(text)).split(separator)
                if key.startswith("Fn::") or key == "Condition":
                    raise _Unresolvable(key)
            resolved = {k: self._resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(value, list):
            return [item for item in map(self._resolve, value) if item is not _NO_VALUE]
        return value

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.prefix,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.prefix}/"
                            "00000000-0000-4000-8000-000000000000",
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        parameter = self.template.get("Parameters", {}).get(name)
        if parameter is not None:
            if "Default" not in parameter:
                raise _Unresolvable(f"parameter {name} has no default")
            return parameter["Default"]
        names = self._created(name)
        return names.get("url", names["name"])  # a queue's Ref is its URL; a table's or bucket's, its name

    def _get_att(self, logical_id: str, attribute: str) -> str:
        names = self._created(logical_id)
        key = {"Arn": "arn", "QueueName": "name", "QueueUrl": "url"}.get(attribute)
        if key not in names:
            raise _Unresolvable(f"{logical_id}.{attribute}")
        return names[key]

    def _created(self, logical_id: str) -> dict[str, str]:
        if logical_id in self.resources:
            return self.resources[logical_id]
        resource_type = self.template.get("Resources", {}).get(logical_id, {}).get("Type")
        if resource_type in (QUEUE, TABLE, BUCKET):
            raise _NotYetCreated(logical_id)
        raise _Unresolvable(logical_id)  # a function, a layer... : nothing local stands for it

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = self._resolve(variables)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is written as ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._get_att(*name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", substitute, text)


class _OneDynamoDBRequestAtATime:
    """AWS applies each DynamoDB request atomically; moto's threaded server does not: a transaction
    deep-copies the tables it touches and puts the copy back when it fails, undoing what other
    requests wrote meanwhile (and the copy fails when another request writes during it). Here
    DynamoDB requests run one at a time, the others as moto runs them."""

    def __init__(self, app: Any):
        self.app, self._lock = app, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not (environ.get("HTTP_X_AMZ_TARGET") or "").startswith(iam.DynamoDBCheck.TARGET):
            return self.app(environ, start_response)
        with self._lock:
            return list(self.app(environ, start_response))


class _MotoServer:
    """moto's server app in a thread on 127.0.0.1, as moto's ThreadedMotoServer runs it, behind the
    checks moto lacks for DynamoDB (usersync_dev.local.iam.DynamoDBCheck) and its requests made atomic."""

    def __init__(self, port: int, account_id: str, caller: Any):
        self._port, self._account_id, self._caller = port, account_id, caller
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # dev-only: imported when a stack starts
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = iam.DynamoDBCheck(_OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app)),
                                self._caller, self._account_id)
        self._server = make_server("127.0.0.1", self._port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), port

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def _attribute_value(value: Any) -> str:
    """SQS attributes are strings: booleans lower-case, policies JSON."""
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _tags(props: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: str(tag["Value"]) for tag in props.get("Tags") or []}


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault."""
    renamed = {"ServerSideEncryptionByDefault": "ApplyServerSideEncryptionByDefault"}
    return {renamed.get(key, key): value for key, value in rule.items()}


def _queue_notification(configuration: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's QueueConfiguration in the shape of the S3 API."""
    notification: dict[str, Any] = {"QueueArn": configuration["Queue"], "Events": [configuration["Event"]]}
    rules = ((configuration.get("Filter") or {}).get("S3Key") or {}).get("Rules")
    if rules:
        notification["Filter"] = {"Key": {"FilterRules": rules}}
    return notification
