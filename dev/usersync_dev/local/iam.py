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
from AWS's in ways that matter here, and these are the local enforcement's gaps:

- Actions are checked by the operation's name: `dynamodb:BatchWriteItem`, `ssm:GetParameter`. Where
  AWS authorizes an operation under other actions, MOTO_OPERATIONS adds moto's name (below). A
  DynamoDB transaction is one action to moto but, in AWS, each item's own: TransactionItemsCheck
  checks those before moto sees the request.
- Resources are checked for S3 (bucket and object ARNs) and SQS (queue ARN) only. For DynamoDB, SSM,
  Secrets Manager and every other service moto asks about resource "*", which no scoped statement
  matches: their statements are widened to "*" locally. So locally a grant on the wrong table,
  parameter path or secret name still passes; tests/infra/test_iam.py checks those ARNs statically.
- Conditions are not evaluated for identity policies (only StringEquals, against values moto never
  supplies): `s3:prefix` on s3:ListBucket, for one, is not checked.
- Resource policies (bucket and queue policies) are not evaluated: the TLS-only denials are not
  enforced locally (moto is plain HTTP).
- S3 answers 404 for a missing key whether or not the caller may s3:ListBucket; AWS answers 403
  without it. tests/infra/test_iam.py checks that every function reading objects may list them.
- A HEAD of an object version is checked as s3:GetObject (AWS: s3:GetObjectVersion).
- Action names are matched case-sensitively (AWS: case-insensitively): write them as AWS spells them.

Development only: aws-sam-translator comes with aws-sam-cli, a dev dependency.
"""

from __future__ import annotations

import copy
import fnmatch
import io
import json
from collections.abc import Callable, Iterable
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
    # is then checked by TransactionItemsCheck.
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


class TransactionItemsCheck:
    """WSGI middleware in front of moto's app: a DynamoDB transaction's items are authorized one by
    one, each with its own action (a Put needs dynamodb:PutItem...), as AWS does, against the
    caller's policies with moto's own evaluator; then moto checks the request as usual. Written here
    because moto checks a transaction as the single action dynamodb:TransactWriteItems (or
    TransactGetItems), which AWS does not even have."""

    TARGETS = ("DynamoDB_20120810.TransactWriteItems", "DynamoDB_20120810.TransactGetItems")
    ITEM_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                    "ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem"}

    def __init__(self, app: Callable[..., Iterable[bytes]], account_id: str):
        self.app, self.account_id = app, account_id

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") in self.TARGETS and _moto_checks_iam():
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
            refusal = self._refusal(environ, body)
            if refusal is not None:
                return refusal(environ, start_response)
        return self.app(environ, start_response)

    def _refusal(self, environ: dict[str, Any], body: bytes) -> Any:
        from moto.core.exceptions import AccessDeniedError
        from moto.iam.access_control import CreateAccessKeyFailure, IAMPolicy, PermissionResult, create_access_key

        credential = environ.get("HTTP_AUTHORIZATION", "").partition("Credential=")[2].partition("/")[0]
        headers = {"X-Amz-Security-Token": environ["HTTP_X_AMZ_SECURITY_TOKEN"]} \
            if "HTTP_X_AMZ_SECURITY_TOKEN" in environ else {}
        try:
            caller = create_access_key(self.account_id, "aws", credential, headers)
        except CreateAccessKeyFailure:
            return None  # an unknown key: moto refuses it itself
        policies = [IAMPolicy(policy) for policy in caller.collect_policies()]
        for item in json.loads(body or b"{}").get("TransactItems", []):
            for kind in item:
                action = self.ITEM_ACTIONS[kind]
                answers = {policy.is_action_permitted(action) for policy in policies}
                if PermissionResult.DENIED in answers or PermissionResult.PERMITTED not in answers:
                    return AccessDeniedError(user_arn=caller.arn, action=action)
        return None


def _moto_checks_iam() -> bool:
    """moto's own test (moto/core/authorization.py): past its first unchecked requests."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
