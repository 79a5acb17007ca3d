"""Which usersync the commands read: a deployed stack on AWS, or a local stack (moto server).

    usersync tokens                                   # the local stack (`usersync run --keep` starts one)
    usersync tokens --endpoint-url http://127.0.0.1:4599
    usersync tokens --stack usersync --profile prod --region eu-west-1

On AWS the table and queue names come from the CloudFormation stack's outputs (`StateTableName`,
`WorkQueueUrl`, `FailedRecordsQueueUrl`...). Locally they are read from the moto server, whose
resources are named `usersync-<kebab-case logical id>` (usersync_dev.local.stack): the same output keys
work in both places. Commands declare the four options with the `*Option` aliases below and call
`resolve_target()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import boto3
import typer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from usersync_dev.cli.console import EXIT_USAGE, fail

LOCAL_PORT = 4599  # `usersync run --keep` serves its local stack here; the read commands look here first
LOCAL_ENDPOINT = f"http://127.0.0.1:{LOCAL_PORT}"
LOCAL_PREFIX = "usersync-"
LOCAL_REGION = "us-east-1"  # usersync_dev.local.stack.LocalAwsStack.region
_LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                      "aws_session_token": "testing"}  # moto accepts anything; never the user's real keys

_TARGET = "Target (default: the local stack)"


def _option(*names: str, help: str, envvar: str | None = None) -> Any:
    return typer.Option(*names, envvar=envvar, help=help, rich_help_panel=_TARGET, show_default=False)


StackOption = Annotated[Optional[str], _option(
    "--stack", envvar="USERSYNC_STACK", help="CloudFormation stack name of a deployed usersync (AWS).")]
# Without --profile / --region, boto3 reads AWS_PROFILE, AWS_REGION and the profile's settings as usual.
ProfileOption = Annotated[Optional[str], _option("--profile", help="AWS profile to use with --stack.")]
RegionOption = Annotated[Optional[str], _option("--region", help="AWS region of --stack (default: the profile's).")]
EndpointOption = Annotated[Optional[str], _option(
    "--endpoint-url", envvar="USERSYNC_ENDPOINT_URL",
    help=f"A local stack's moto server (default: {LOCAL_ENDPOINT}).")]


class TargetError(Exception):
    """The target cannot be reached or is not a usersync stack; the message says what to do."""


@dataclass
class Target:
    """AWS clients and resource names of one usersync stack."""

    session: boto3.session.Session
    endpoint_url: str | None  # None: real AWS
    outputs: dict[str, str]  # CloudFormation output key -> value (names, URLs, ARNs)
    description: str  # for messages: "stack usersync (eu-west-1)" or "local stack at http://..."

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            known = ", ".join(sorted(self.outputs)) or "none"
            raise TargetError(f"{self.description} has no {key} (it has: {known}); is it a usersync stack "
                              "of this version?") from None

    @property
    def state_table(self) -> str:
        return self.output("StateTableName")

    def queue_url(self, logical_id: str) -> str:
        """`WorkQueue`, `FailedRecordsQueue`, `WorkDeadLetterQueue`... -> its URL."""
        return self.output(f"{logical_id}Url")


def aws_target(stack: str, profile: str | None = None, region: str | None = None) -> Target:
    """A deployed stack: its outputs from CloudFormation, with the user's credentials."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        answer = session.client("cloudformation").describe_stacks(StackName=stack)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise TargetError(f"stack {stack!r}: {message}") from None
    except BotoCoreError as exc:  # no credentials, unknown profile, no region...
        raise TargetError(f"cannot reach AWS for stack {stack!r}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in answer["Stacks"][0].get("Outputs", [])}
    return Target(session, None, outputs, f"stack {stack} ({session.region_name})")


def local_target(endpoint_url: str = LOCAL_ENDPOINT) -> Target:
    """A local stack (moto server): the template's resources, found by their local names."""
    session = boto3.session.Session(region_name=LOCAL_REGION, **_LOCAL_CREDENTIALS)
    quick = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
    description = f"local stack at {endpoint_url}"
    outputs: dict[str, str] = {}
    try:
        sqs = session.client("sqs", endpoint_url=endpoint_url, config=quick)
        for url in sqs.list_queues(QueueNamePrefix=LOCAL_PREFIX).get("QueueUrls", []):
            outputs[f"{logical_id(url.rsplit('/', 1)[-1])}Url"] = url
        dynamodb = session.client("dynamodb", endpoint_url=endpoint_url, config=quick)
        for name in dynamodb.list_tables().get("TableNames", []):
            if name.startswith(LOCAL_PREFIX):
                outputs[f"{logical_id(name)}Name"] = name
        s3 = session.client("s3", endpoint_url=endpoint_url, config=quick)
        for bucket in s3.list_buckets().get("Buckets", []):
            if bucket["Name"].startswith(LOCAL_PREFIX):
                outputs[f"{logical_id(bucket['Name'])}Name"] = bucket["Name"]
    except (BotoCoreError, ClientError) as exc:
        raise TargetError(
            f"no local stack at {endpoint_url} ({type(exc).__name__}). Start one with "
            "`usersync run --keep --messages FILE`, or read a deployed stack with --stack NAME "
            "[--profile P] [--region R]") from None
    if not outputs:
        raise TargetError(f"{description} holds no usersync resources")
    return Target(session, endpoint_url, outputs, description)


def logical_id(local_name: str) -> str:
    """`usersync-work-dead-letter-queue` -> `WorkDeadLetterQueue` (the inverse of stack.physical_name)."""
    kebab = local_name.removeprefix(LOCAL_PREFIX).removesuffix(".fifo")
    return "".join(part.capitalize() for part in re.split(r"-+", kebab) if part)


def resolve_target(stack: str | None, profile: str | None, region: str | None,
                   endpoint_url: str | None) -> Target:
    """The target the options name, or exit with a message saying what to do."""
    if stack and endpoint_url:
        fail("give --stack (AWS) or --endpoint-url (a local stack), not both", EXIT_USAGE)
    if not stack and (profile or region):
        fail("--profile and --region choose where --stack is: add --stack NAME", EXIT_USAGE)
    try:
        if stack:
            return aws_target(stack, profile, region)
        return local_target(endpoint_url or LOCAL_ENDPOINT)
    except TargetError as exc:
        fail(str(exc))
