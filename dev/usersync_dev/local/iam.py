"""Each function's IAM policy as SAM deploys it, and the same policy in the terms moto checks.

The local stack (usersync_dev.local.stack) gives every function of template.yaml an execution role
holding this policy and runs its handler with that role's credentials, with moto's IAM
authorization on: a call the template does not grant fails locally with AccessDenied, as in AWS.

`template_policy()` reads a function's `Policies` the way SAM does: inline statements as written,
SAM policy templates (`SQSSendMessagePolicy: {QueueName: ...}`) expanded by aws-sam-translator's
own PolicyTemplatesProcessor and policy_templates.json. Managed policies (a name or an ARN) are
refused: none of ours holds what a handler calls, and moto would need their documents.

`for_moto()` rewrites a resolved policy so that moto allows what AWS allows, as far as moto can
tell. moto's checks (moto/core/authorization.py, moto/iam/access_control.py, moto 5.1-5.2) differ
from AWS's in ways that matter here; what the local stack does about each, and the gaps left:

- Actions are checked by the operation's name: `dynamodb:BatchWriteItem`, `ssm:GetParameter`. Where
  AWS authorizes an operation under other actions, MOTO_OPERATIONS adds moto's name (below). A
  DynamoDB transaction is one action to moto but, in AWS, each item's own: DynamoDBCheck checks
  those before moto sees the request.
- Resources are checked for S3 (bucket and object ARNs) and SQS (queue ARN) only. For DynamoDB, SSM,
  Secrets Manager and every other service moto asks about resource "*", which no scoped statement
  matches: their statements are widened to "*" for moto. DynamoDBCheck checks DynamoDB's tables and
  indexes itself. SSM parameters and Secrets Manager secrets are not checked: their names come from
  the template's parameters, whose deployed values the local stack cannot know (it uses the
  defaults); tests/infra/test_policies.py checks those grants on the template.
- Conditions are not evaluated for identity policies (only StringEquals, against values moto never
  supplies): `s3:prefix` on s3:ListBucket, for one, is not checked.
- Resource policies (bucket and queue policies) are not evaluated: the TLS-only denials are not
  enforced locally (moto is plain HTTP).
- S3 answers 404 for a missing key whether or not the caller may s3:ListBucket; AWS answers 403
  without it. tests/infra/test_policies.py checks that every function reading objects may list them.
- A HEAD of an object version is checked as s3:GetObject (AWS: s3:GetObjectVersion).
- Action names are matched case-sensitively (AWS: case-insensitively): write them as AWS spells them.
- The roles hold the template's `Policies` only, not what SAM adds (AWSLambdaBasicExecutionRole,
  the SQS poller's AWSLambdaSQSQueueExecutionRole, X-Ray): those serve Lambda's own calls, which
  locally the pump makes as the administrator.

Development only: aws-sam-translator comes with aws-sam-cli, a dev dependency.
"""

from __future__ import annotations

import copy
import fnmatch
import io
import json
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

FUNCTION = "AWS::Serverless::Function"

# Services whose requests moto authorizes against the resource's ARN; for all others it asks "*".
RESOURCE_CHECKED = frozenset({"s3", "sqs", "iam", "sts"})

# Operations moto authorizes under their own name where AWS authorizes other actions; none of these
# names is an IAM action (cfn-lint's copy of the Service Authorization Reference lists no
# dynamodb:TransactWriteItems nor sqs:SendMessageBatch). A statement granting any of the AWS actions
# gets moto's name too.
MOTO_OPERATIONS = {
    # AWS checks each item's own action (PutItem, UpdateItem, DeleteItem, ConditionCheckItem) on its
    # table; moto one action for the whole transaction, which any of them grants here. Each item's own
    # is then checked by DynamoDBCheck.
    "dynamodb:TransactWriteItems": ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                    "dynamodb:ConditionCheckItem"),
    "dynamodb:TransactGetItems": ("dynamodb:GetItem",),
    # SQS batch operations are authorized as their single-message action, exactly.
    "sqs:SendMessageBatch": ("sqs:SendMessage",),
    "sqs:DeleteMessageBatch": ("sqs:DeleteMessage",),
    "sqs:ChangeMessageVisibilityBatch": ("sqs:ChangeMessageVisibility",),
}


@cache
def _policy_templates() -> Any:
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    return PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every AWS::Serverless::Function."""
    return {logical_id: resource.get("Properties") or {}
            for logical_id, resource in (template.get("Resources") or {}).items() if resource.get("Type") == FUNCTION}


def template_policy(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The function's `Policies` as one policy document, SAM policy templates expanded; its
    intrinsic functions (!GetAtt, !Sub...) are left for the caller to resolve."""
    policies = functions(template)[logical_id].get("Policies") or []
    if isinstance(policies, (str, dict)):
        policies = [policies]
    statements: list[dict[str, Any]] = []
    for policy in policies:
        if isinstance(policy, str):
            raise ValueError(f"{logical_id}: managed policy {policy!r}: the local stack has no copy of its document")
        if "Statement" in policy:
            found = policy["Statement"]
        else:
            ((name, parameters),) = policy.items()
            processor = _policy_templates()
            if not processor.has(name):
                raise ValueError(f"{logical_id}: {name!r} is neither a policy statement nor a SAM policy template")
            found = processor.convert(name, parameters)["Statement"]
        statements.extend(copy.deepcopy(found if isinstance(found, list) else [found]))
    return {"Version": "2012-10-17", "Statement": statements}


def _listed(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _grants(patterns: list[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)


def for_moto(policy: dict[str, Any]) -> dict[str, Any]:
    """A resolved policy document rewritten so that moto allows what AWS would (see the module's
    docstring for what it cannot tell apart)."""
    statements = []
    found = policy["Statement"]
    for statement in found if isinstance(found, list) else [found]:
        if "NotAction" in statement or "NotResource" in statement:
            raise ValueError(f"statement {statement.get('Sid', '')!r}: NotAction / NotResource are not translated")
        actions = _listed(statement["Action"])
        actions += [name for name, aws in MOTO_OPERATIONS.items()
                    if name not in actions and any(_grants(actions, action) for action in aws)]
        checked = [a for a in actions if a.split(":", 1)[0].lower() in RESOURCE_CHECKED]
        unchecked = [a for a in actions if a not in checked]
        if checked:
            statements.append({**statement, "Action": checked})
        if unchecked:
            if statement["Effect"] != "Allow":
                raise ValueError(f"statement {statement.get('Sid', '')!r}: a Deny on {unchecked} cannot be checked "
                                 "locally (moto checks no resource for these services)")
            widened = {**statement, "Action": unchecked, "Resource": "*"}
            if checked and "Sid" in statement:  # Sids stay unique
                widened["Sid"] = f"{statement['Sid']}AnyResource"
            statements.append(widened)
    return {"Version": "2012-10-17", "Statement": statements}


def role_name(logical_id: str) -> str:
    """SAM's name for a function's generated role: `<LogicalId>Role`."""
    return f"{logical_id}Role"


def trust_policy(*principals: str) -> str:
    """Lambda assumes the role in AWS; locally the stack's administrator assumes it for the handler."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "lambda.amazonaws.com", "AWS": list(principals)},
    }]})


class DynamoDBCheck:
    """WSGI middleware in front of moto's app, for what moto does not check in DynamoDB: it asks
    about resource "*" for every request, and about a transaction as the single action
    dynamodb:TransactWriteItems (or TransactGetItems), which AWS does not even have. For a function's
    DynamoDB request this checks, as AWS does, each action on each table or index it touches (a
    transaction's items one by one: a Put needs dynamodb:PutItem on its table...) against the
    function's policy as the template writes it, with moto's own evaluator. moto then checks the
    request as usual.

    `caller(access key id)`: the caller's ARN and the policy to check it against; None (the
    administrator, an unknown key) leaves the request to moto alone."""

    TARGET = "DynamoDB_20120810."
    ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}

    def __init__(self, app: Callable[..., Iterable[bytes]],
                 caller: Callable[[str], tuple[str, dict[str, Any]] | None], account_id: str):
        self.app, self.caller, self.account_id = app, caller, account_id

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        scope = environ.get("HTTP_AUTHORIZATION", "").partition("Credential=")[2].split("/")
        caller = self.caller(scope[0]) if target.startswith(self.TARGET) and len(scope) > 3 else None
        if caller is not None and _moto_checks_iam():
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
            table_arn = f"arn:aws:dynamodb:{scope[2]}:{self.account_id}:table/"
            refusal = self._refusal(*caller, target.removeprefix(self.TARGET), json.loads(body or b"{}"), table_arn)
            if refusal is not None:
                return refusal(environ, start_response)
        return self.app(environ, start_response)

    def _refusal(self, caller_arn: str, policy: dict[str, Any], operation: str, request: dict[str, Any],
                 table_arn: str) -> Any:
        from moto.core.exceptions import AccessDeniedError
        from moto.iam.access_control import IAMPolicy, PermissionResult

        evaluator = IAMPolicy(json.dumps(policy))
        for action, resource in self.touches(operation, request, table_arn):
            if evaluator.is_action_permitted(action, resource) != PermissionResult.PERMITTED:
                return AccessDeniedError(user_arn=caller_arn, action=f"{action} on resource: {resource}")
        return None

    @classmethod
    def touches(cls, operation: str, request: dict[str, Any], table_arn: str) -> Iterator[tuple[str, str]]:
        """(action, table or index ARN) for each authorization AWS makes for this request."""
        if operation in ("TransactWriteItems", "TransactGetItems"):
            for item in request.get("TransactItems", []):
                for kind, details in item.items():
                    yield f"dynamodb:{cls.ITEM_ACTIONS[kind]}", table_arn + details["TableName"]
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table in request.get("RequestItems", {}):
                yield f"dynamodb:{operation}", table_arn + table
        elif "TableName" in request:
            index = f"/index/{request['IndexName']}" if request.get("IndexName") else ""
            yield f"dynamodb:{operation}", table_arn + request["TableName"] + index


def _moto_checks_iam() -> bool:
    """moto's own test (moto/core/authorization.py): past its first unchecked requests."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
