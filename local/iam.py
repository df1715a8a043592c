"""Every function under its own role, as Lambda runs it: moto's IAM enforced per function.

template.yaml is rendered by the SAM translator (policy templates expanded, the AWS managed
policies SAM attaches), each function's role is created in moto's IAM as rendered, and assumed
for credentials. postino.aws then signs each function's calls with its own role
(`aws.acting_as`), and moto refuses what the role lacks with AccessDenied, as AWS would.

Where moto is lenient or off, this module makes it answer as AWS does:
- it checks a policy's Resource only for SQS, IAM and S3; for DynamoDB (and its streams),
  Secrets Manager and EventBridge (and a queue that is gone) it asks about "*", which no ARN-scoped statement
  matches. `_RESOURCES` names the resource each request is about;
- it knows the `*` wildcard but not `?` (the one that matches a secret's ARN suffix);
- it asks for SQS batch actions, which IAM does not have: SQS authorizes a batch call with its
  single action;
- it reads an S3 request's caller from its Authorization header only: a presigned URL (the
  conversation API's media links) names its caller in its query, and is authorized as that
  caller here (its signature and expiry are not checked: moto cannot);
- a caller that catches an AccessDenied (a route that answers 401, a poller that retries) would
  hide it: every refusal is kept in `denials`, and the tests fail on any.
"""

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.events.responses import EventsHandler
from moto.iam.access_control import IAMPolicyStatement, IAMRequest, S3IAMRequest
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.sqs.responses import SQSResponse

from local.sam_render import translated
from local.template_stack import StackResources, conditions, load_template, resolve_all

# The caller that sets the stack up and reads it in tests: the account's administrator.
OPERATOR = "operator"
_OPERATOR_USER = "postino-local-operator"


@dataclass
class Denial:
    principal: str
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.principal} may not {self.action} on {self.resource}"


@dataclass
class FunctionRoles:
    """Credentials per identity: each function's logical id, and OPERATOR."""

    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    region: str = "us-east-1"

    def session(self, identity: str) -> boto3.session.Session:
        if identity not in self.credentials:
            raise RuntimeError(
                f"an AWS call as {identity or 'nobody'}: locally every call is made as a "
                "function (postino.aws.acting_as) or the operator"
            )
        credentials = self.credentials[identity]
        return boto3.session.Session(
            aws_access_key_id=credentials["aws_access_key_id"],
            aws_secret_access_key=credentials["aws_secret_access_key"],
            aws_session_token=credentials.get("aws_session_token"),
            region_name=self.region,
        )


denials: list[Denial] = []
_on_denial: Callable[[Denial], None] | None = None
_denials_lock = threading.Lock()


def render(resources: StackResources) -> dict[str, Any]:
    """template.yaml as CloudFormation, as `sam deploy` would send it (SAM's transform done)."""
    return translated(resources.parameters, resources.region)


def function_role_documents(resources: StackResources) -> dict[str, dict[str, Any]]:
    """Each function's role, resolved: {function: {"trust", "managed", "inline": {name: doc}}}."""
    # A table's stream ARN ends in its creation time: a new moto's stack names new streams.
    key = (
        resources.stack_name,
        resources.region,
        tuple(sorted(resources.parameters.items())),
        tuple(sorted(resources.stream_arns.items())),
    )
    if key not in _role_documents:  # every test builds the same stack: resolve it once
        _role_documents[key] = _resolve_role_documents(resources)
    return copy.deepcopy(_role_documents[key])


_role_documents: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}


def _resolve_role_documents(resources: StackResources) -> dict[str, dict[str, Any]]:
    rendered = render(resources)
    truths = conditions(rendered, resources)
    roles = {}
    for name, resource in load_template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        # The function's Role names its role: SAM's generated one, or one of the template's.
        role_name = rendered["Resources"][name]["Properties"]["Role"]["Fn::GetAtt"][0]
        role = resolve_all(rendered["Resources"][role_name]["Properties"], resources, truths)
        inline = {p["PolicyName"]: p["PolicyDocument"] for p in role.get("Policies", [])}
        roles[name] = {
            "trust": role["AssumeRolePolicyDocument"],
            "managed": role.get("ManagedPolicyArns", []),
            "inline": inline | _role_policies(rendered, role_name, resources, truths),
        }
    return roles


def _role_policies(
    rendered: dict[str, Any], role_name: str, resources: StackResources, truths: dict[str, bool]
) -> dict[str, Any]:
    """Policies of their own (AWS::IAM::RolePolicy) that name the role: those that refer to
    the role's function, which its role's own policies cannot without a circular reference."""
    return {
        resource["Properties"]["PolicyName"]: resolve_all(
            resource["Properties"]["PolicyDocument"], resources, truths
        )
        for resource in rendered["Resources"].values()
        if resource["Type"] == "AWS::IAM::RolePolicy"
        and resource["Properties"]["RoleName"] == {"Ref": role_name}
    }


@cache
def _aws_managed_policies() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    return data


def _add_aws_managed_policy(arn: str, resources: StackResources) -> None:
    """moto knows AWS's managed policies but loads them only when asked for all ~1,300."""
    backend = iam_backends[resources.account_id]["aws"]
    if arn not in backend.managed_policies:
        name = arn.rsplit("/", 1)[1]
        backend.managed_policies[arn] = AWSManagedPolicy.from_data(
            name, resources.account_id, resources.region, _aws_managed_policies()[name]
        )


def create_function_roles(resources: StackResources) -> FunctionRoles:
    """Create every function's role and the operator in moto's IAM; assume each role."""
    iam: Any = boto3.client("iam", region_name=resources.region)
    sts: Any = boto3.client("sts", region_name=resources.region)
    roles = FunctionRoles(region=resources.region)
    for function, role in function_role_documents(resources).items():
        role_name = f"{resources.stack_name}-{function}Role"
        arn = iam.create_role(
            RoleName=role_name, AssumeRolePolicyDocument=json.dumps(role["trust"])
        )["Role"]["Arn"]
        for policy_name, document in role["inline"].items():
            # SAM's policy templates leave Version out, which IAM reads as 2008-10-17 and moto
            # refuses; none of them uses what the two versions treat differently (variables).
            versioned = {"Version": "2012-10-17", **document}
            iam.put_role_policy(
                RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(versioned)
            )
        for policy_arn in role["managed"]:
            _add_aws_managed_policy(policy_arn, resources)
            iam.attach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
        assumed = sts.assume_role(RoleArn=arn, RoleSessionName=function)["Credentials"]
        roles.credentials[function] = {
            "aws_access_key_id": assumed["AccessKeyId"],
            "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"],
        }
    iam.create_user(UserName=_OPERATOR_USER)
    iam.put_user_policy(
        UserName=_OPERATOR_USER,
        PolicyName="Administrator",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=_OPERATOR_USER)["AccessKey"]
    roles.credentials[OPERATOR] = {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }
    return roles


def operator_environment(roles: FunctionRoles) -> dict[str, str]:
    """The environment for plain boto3 clients (the harness, the tests): the operator."""
    operator = roles.credentials[OPERATOR]
    return {
        "AWS_ACCESS_KEY_ID": operator["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": operator["aws_secret_access_key"],
    }


def enforce(on: bool = True, on_denial: Callable[[Denial], None] | None = None) -> None:
    """Turn moto's IAM checks on (from the next request) or off; `on_denial` hears of each
    refusal as it happens (make run prints it)."""
    global _on_denial
    _install_resource_names()
    _on_denial = on_denial
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if on else float("inf")
    ActionAuthenticatorMixin.request_count = 0
    with _denials_lock:
        denials.clear()


def take_denials() -> list[Denial]:
    with _denials_lock:
        taken = list(denials)
        denials.clear()
    return taken


def _json_body(handler: Any) -> dict[str, Any]:
    body = handler.body
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body or "{}")
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def _dynamodb_resource(handler: Any) -> str:
    body = _json_body(handler)
    table = body.get("TableName") or next(iter(body.get("RequestItems", {})), None)
    if not table:
        return "*"
    arn = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{table}"
    return f"{arn}/index/{body['IndexName']}" if body.get("IndexName") else arn


def _secret_resource(handler: Any) -> str:
    secret_id = _json_body(handler).get("SecretId")
    if not secret_id:
        return "*"
    try:
        arn: str = handler.backend.describe_secret(secret_id).arn
    except Exception:  # a missing secret: AWS asks about the name it was given
        arn = (
            f"arn:aws:secretsmanager:{handler.region}:{handler.current_account}:secret:{secret_id}"
        )
    return arn


def _event_bus_resource(handler: Any) -> str:
    entries = _json_body(handler).get("Entries") or [{}]
    bus = entries[0].get("EventBusName") or "default"
    if bus.startswith("arn:"):
        return str(bus)
    return f"arn:aws:events:{handler.region}:{handler.current_account}:event-bus/{bus}"


def _queue_resource(handler: Any) -> str:
    # IAM authorizes the ARN the queue URL names, whether or not the queue exists (moto asks
    # about "*" for a missing one); a missing queue is then SQS's own error.
    try:
        name = handler._get_queue_name()
    except Exception:  # CreateQueue, GetQueueUrl, ListQueues: no queue URL
        name = None
    # CreateQueue and GetQueueUrl name their queue instead.
    name = name or _json_body(handler).get("QueueName")
    return f"arn:aws:sqs:{handler.region}:{handler.current_account}:{name}" if name else "*"


def _stream_resource(handler: Any) -> str:
    # GetRecords names its shard iterator, which moto makes "<stream ARN>|1|<id>".
    body = _json_body(handler)
    arn = body.get("StreamArn") or str(body.get("ShardIterator") or "").split("|", 1)[0]
    return str(arn) if arn else "*"


_RESOURCES: dict[type, Callable[[Any], str]] = {
    DynamoDBStreamsHandler: _stream_resource,
    SQSResponse: _queue_resource,
    DynamoHandler: _dynamodb_resource,
    SecretsManagerResponse: _secret_resource,
    EventsHandler: _event_bus_resource,
}


def _record_denial(self: IAMRequest) -> None:
    resource = getattr(self, "_postino_resource", "*")
    denial = Denial(self._access_key.arn, self._action, resource)
    with _denials_lock:
        denials.append(denial)
    if _on_denial is not None:
        _on_denial(denial)
    _raise_access_denied(self)


_raise_access_denied = IAMRequest._raise_access_denied
_check_action_permitted = IAMRequest.check_action_permitted


# SQS authorizes a batch call with its single action's permission; IAM has no batch actions.
_AUTHORIZED_AS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def _checking(self: IAMRequest, resource: str) -> None:
    self._postino_resource = resource  # type: ignore[attr-defined]
    self._action = _AUTHORIZED_AS.get(self._action, self._action)
    _check_action_permitted(self, resource)


def _iam_match(pattern: str, value: str) -> re.Match[str] | None:
    """IAM's wildcards: * is any run of characters, ? is exactly one (moto knows only *, and
    reads the rest of a pattern as a regular expression)."""
    wildcards = {"*": ".*", "?": "."}
    regex = "".join(wildcards.get(c, re.escape(c)) for c in pattern)
    return re.match(f"^{regex}$", value)


_s3_request_init = S3IAMRequest.__init__
_s3_check_signature = S3IAMRequest.check_signature


def _s3_request(self: S3IAMRequest, *args: Any, **kwargs: Any) -> None:
    """A presigned request's caller, from its query, as if it were in its headers."""
    query = parse_qs(urlsplit(kwargs["path"]).query)
    headers = kwargs["headers"]
    self._postino_presigned = "Authorization" not in headers and "X-Amz-Credential" in query  # type: ignore[attr-defined]
    if self._postino_presigned:  # type: ignore[attr-defined]
        credential = query["X-Amz-Credential"][0]
        kwargs["headers"] = dict(headers.items()) | {
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host",
            "X-Amz-Security-Token": query.get("X-Amz-Security-Token", [""])[0],
        }
    _s3_request_init(self, *args, **kwargs)


def _s3_signature(self: S3IAMRequest) -> None:
    if not getattr(self, "_postino_presigned", False):
        _s3_check_signature(self)


@cache
def _install_resource_names() -> None:
    S3IAMRequest.__init__ = _s3_request  # type: ignore[method-assign,assignment]
    S3IAMRequest.check_signature = _s3_signature  # type: ignore[method-assign,assignment]
    for handler_class, resource_of in _RESOURCES.items():
        handler_class._determine_resource = resource_of  # type: ignore[attr-defined]
    IAMPolicyStatement._match = staticmethod(_iam_match)  # type: ignore[method-assign,assignment]
    IAMRequest._raise_access_denied = _record_denial  # type: ignore[method-assign]
    IAMRequest.check_action_permitted = _checking  # type: ignore[method-assign,assignment]
