"""AWS resources built from template.yaml itself, for tests (moto) and the local stack.

One source of truth: tables, queues and the functions' environment come from the template's
own definitions, so what runs locally cannot drift from what `sam deploy` creates.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import decode_str

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"

# Properties that only matter to a real deployment (backups, alarms' wiring): nothing to emulate.
_DEPLOYMENT_ONLY = {"PointInTimeRecoverySpecification", "Tags", "DeletionProtectionEnabled"}
_TABLE_PROPERTIES = {
    "KeySchema",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "BillingMode",
    "SSESpecification",
}


@dataclass(frozen=True)
class StackResources:
    stack_name: str
    region: str
    account_id: str
    parameters: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    # A table's stream (GetAtt StreamArn), for those with a StreamSpecification.
    stream_arns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiRoute:
    function: str
    method: str
    path: str
    api_key_required: bool


@cache
def _load(path: Path) -> dict[str, Any]:
    template, matches = decode_str(path.read_text())
    if matches or template is None:
        raise ValueError(f"{path} does not parse: {matches}")
    plain: dict[str, Any] = json.loads(json.dumps(template))  # without cfn-lint's node types
    return plain


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template with short-form tags (!Ref, !GetAtt, !Sub) in their long form."""
    return _load(path)


def _resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource.get("Properties", {})
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def create_stack_resources(
    template: dict[str, Any] | None = None,
    *,
    stack_name: str = "postino",
    region: str = "us-east-1",
    parameter_overrides: Mapping[str, str] | None = None,
) -> StackResources:
    """Create the template's tables and queues with plain boto3 (moto or AWS_ENDPOINT_URL)."""
    template = template or load_template()
    parameters = {
        name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()
    } | dict(parameter_overrides or {})
    resources = StackResources(stack_name, region, ACCOUNT_ID, parameters)
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resources.physical[name] = f"{stack_name}-{name}"
            resources.arns[name] = (
                f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{stack_name}-{name}"
            )
    for name in _resources_of(template, "AWS::ApiGatewayV2::Api"):
        # Its id, as API Gateway makes them (10 lowercase letters and digits): the local
        # WebSocket API (local/websocket_api.py) serves it; roles and URLs name it.
        resources.physical[name] = hashlib.sha256(f"{stack_name}/{name}".encode()).hexdigest()[:10]
    _create_tables(template, resources)
    _create_queues(template, resources)
    _create_buckets(template, resources)
    _name_log_groups(template, resources)
    return resources


def _name_log_groups(template: dict[str, Any], resources: StackResources) -> None:
    """Log groups are not emulated, but roles name them: their names and ARNs resolve."""
    for name, properties in _resources_of(template, "AWS::Logs::LogGroup").items():
        if "LogGroupName" in properties:
            group = str(_resolve(properties["LogGroupName"], resources))
            resources.physical[name] = group
            resources.arns[name] = (
                f"arn:aws:logs:{resources.region}:{resources.account_id}:log-group:{group}:*"
            )


def _create_tables(template: dict[str, Any], resources: StackResources) -> None:
    dynamodb: Any = boto3.client("dynamodb", region_name=resources.region)
    for name, properties in _resources_of(template, "AWS::DynamoDB::Table").items():
        unknown = (
            set(properties)
            - _TABLE_PROPERTIES
            - _DEPLOYMENT_ONLY
            - {"TimeToLiveSpecification", "StreamSpecification"}
        )
        if unknown:
            raise ValueError(f"AWS::DynamoDB::Table {name}: cannot emulate {sorted(unknown)}")
        table = f"{resources.stack_name}-{name}"
        sse = properties.get("SSESpecification")
        stream = properties.get("StreamSpecification")
        created = dynamodb.create_table(
            TableName=table,
            **{
                k: v for k, v in properties.items() if k in _TABLE_PROPERTIES - {"SSESpecification"}
            },
            **({"SSESpecification": {"Enabled": sse["SSEEnabled"]}} if sse else {}),
            # CloudFormation's StreamSpecification has no StreamEnabled: naming one turns it on.
            **({"StreamSpecification": {"StreamEnabled": True, **stream}} if stream else {}),
        )
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
        resources.physical[name] = table
        resources.arns[name] = f"arn:aws:dynamodb:{resources.region}:{ACCOUNT_ID}:table/{table}"
        if stream:
            resources.stream_arns[name] = created["TableDescription"]["LatestStreamArn"]


def _create_queues(template: dict[str, Any], resources: StackResources) -> None:
    sqs: Any = boto3.client("sqs", region_name=resources.region)
    queues = _resources_of(template, "AWS::SQS::Queue")
    # Dead-letter queues first: the queues that redrive to them need their ARNs.
    ordered = sorted(queues, key=lambda name: "RedrivePolicy" in queues[name])
    for name in ordered:
        attributes: dict[str, str] = {}
        for key, value in queues[name].items():
            if key == "RedrivePolicy":
                resolved = {k: _resolve(v, resources) for k, v in value.items()}
                attributes[key] = json.dumps(resolved)
            elif key in ("Tags", "QueueName"):
                raise ValueError(f"AWS::SQS::Queue {name}: cannot emulate {key}")
            else:
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        queue = f"{resources.stack_name}-{name}"
        url = sqs.create_queue(QueueName=queue, Attributes=attributes)["QueueUrl"]
        resources.physical[name] = url
        resources.arns[name] = f"arn:aws:sqs:{resources.region}:{ACCOUNT_ID}:{queue}"


_BUCKET_PROPERTIES = {
    "BucketEncryption",
    "PublicAccessBlockConfiguration",
    "OwnershipControls",
    "LifecycleConfiguration",
}


def _create_buckets(template: dict[str, Any], resources: StackResources) -> None:
    """The template's buckets, named as CloudFormation would (stack, logical id, a suffix).
    Their TLS-only bucket policy is not applied: the local endpoint speaks plain HTTP."""
    s3: Any = boto3.client("s3", region_name=resources.region)
    for name, properties in _resources_of(template, "AWS::S3::Bucket").items():
        unknown = set(properties) - _BUCKET_PROPERTIES
        if unknown:
            raise ValueError(f"AWS::S3::Bucket {name}: cannot emulate {sorted(unknown)}")
        # A suffix of its own, as CloudFormation adds; stable, since roles are resolved once.
        suffix = uuid.uuid5(uuid.NAMESPACE_URL, f"{resources.stack_name}/{name}").hex[:12]
        bucket = f"{resources.stack_name}-{name.lower()}-{suffix}"
        s3.create_bucket(Bucket=bucket)
        if "BucketEncryption" in properties:
            rules = [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules}
            )
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"],
            )
        if "LifecycleConfiguration" in properties:
            rules = [
                {
                    "ID": rule["Id"],
                    "Status": rule["Status"],
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": int(_resolve(rule["ExpirationInDays"], resources))},
                }
                for rule in properties["LifecycleConfiguration"]["Rules"]
            ]
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": rules}
            )
        resources.physical[name] = bucket
        resources.arns[name] = f"arn:aws:s3:::{bucket}"


def function_environment(
    resources: StackResources, logical_id: str, template: dict[str, Any] | None = None
) -> dict[str, str]:
    """A function's environment as Lambda would see it: Globals merged, every value resolved."""
    template = template or load_template()
    variables = {
        **template.get("Globals", {})
        .get("Function", {})
        .get("Environment", {})
        .get("Variables", {}),
        **template["Resources"][logical_id]["Properties"]
        .get("Environment", {})
        .get("Variables", {}),
    }
    resolved = resolve_all(variables, resources, conditions(template, resources))
    return {name: str(value) for name, value in resolved.items()}


def _pseudo(resources: StackResources) -> dict[str, str]:
    return {
        "AWS::Region": resources.region,
        "AWS::AccountId": resources.account_id,
        "AWS::StackName": resources.stack_name,
        # As CloudFormation's: the stack's name and a UUID, here one derived from the name.
        "AWS::StackId": f"arn:aws:cloudformation:{resources.region}:{resources.account_id}:"
        f"stack/{resources.stack_name}/{uuid.uuid5(uuid.NAMESPACE_URL, resources.stack_name)}",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def _ref(name: str, resources: StackResources) -> str:
    if name in resources.parameters:
        return resources.parameters[name]
    if name in resources.physical:
        return resources.physical[name]
    pseudo = _pseudo(resources)
    if name in pseudo:
        return pseudo[name]
    raise ValueError(f"cannot resolve Ref {name}")


def _get_att(name: str, attribute: str, resources: StackResources) -> str:
    if attribute == "Arn":
        return resources.arns[name]
    if attribute == "StreamArn":
        return resources.stream_arns[name]
    if attribute == "QueueName":
        return resources.arns[name].rsplit(":", 1)[1]
    if attribute == "QueueUrl":
        return resources.physical[name]
    raise ValueError(f"cannot resolve GetAtt {name}.{attribute}")


def _resolve(value: Any, resources: StackResources) -> Any:
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return _ref(value["Ref"], resources)
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        name, attribute = target.split(".", 1) if isinstance(target, str) else target
        return _get_att(name, attribute, resources)
    if "Fn::Sub" in value:
        text, variables = (
            (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
        )
        for name, variable in variables.items():
            text = text.replace("${" + name + "}", str(_resolve(variable, resources)))
        for name in {*resources.parameters, *resources.physical, *_pseudo(resources)}:
            if "${" + name + "}" in text:
                text = text.replace("${" + name + "}", _ref(name, resources))
        # ${Resource.Attribute} is GetAtt's short form inside a Sub.
        return re.sub(r"\$\{(\w+)\.(\w+)\}", lambda m: _get_att(m[1], m[2], resources), text)
    if "Fn::Select" in value:
        index, items = value["Fn::Select"]
        return _resolve(items, resources)[int(index)]
    if "Fn::Split" in value:
        separator, text = value["Fn::Split"]
        return str(_resolve(text, resources)).split(separator)
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_resolve(p, resources)) for p in parts)
    raise ValueError(f"cannot resolve {sorted(value)}")


NO_VALUE = object()  # what Ref AWS::NoValue leaves: the property or list item is dropped


def conditions(template: dict[str, Any], resources: StackResources) -> dict[str, bool]:
    """The template's Conditions, evaluated with the stack's parameters."""
    definitions = template.get("Conditions", {})
    known: dict[str, bool] = {}

    def evaluate(value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Condition":
                if argument not in known:
                    known[argument] = bool(evaluate(definitions[argument]))
                return known[argument]
            if function == "Fn::Equals":
                return str(evaluate(argument[0])) == str(evaluate(argument[1]))
            if function == "Fn::And":
                return all(evaluate(a) for a in argument)
            if function == "Fn::Or":
                return any(evaluate(a) for a in argument)
            if function == "Fn::Not":
                return not evaluate(argument[0])
        return _resolve(value, resources)

    return {name: bool(evaluate({"Condition": name})) for name in definitions}


def resolve_all(value: Any, resources: StackResources, truths: dict[str, bool]) -> Any:
    """A whole value (a policy document, say) with every intrinsic resolved: Fn::If by the
    conditions' truths, Ref AWS::NoValue dropped."""
    if isinstance(value, list):
        items = [resolve_all(v, resources, truths) for v in value]
        return [v for v in items if v is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if value == {"Ref": "AWS::NoValue"}:
        return NO_VALUE
    if "Fn::If" in value:
        condition, if_true, if_false = value["Fn::If"]
        return resolve_all(if_true if truths[condition] else if_false, resources, truths)
    if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
        return _resolve(value, resources)
    resolved = {k: resolve_all(v, resources, truths) for k, v in value.items()}
    return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def api_routes(template: dict[str, Any] | None = None) -> list[ApiRoute]:
    """Every Api event of every function, with whether it needs the API key."""
    template = template or load_template()
    apis = _resources_of(template, "AWS::Serverless::Api")
    routes = []
    for name, properties in _resources_of(template, "AWS::Serverless::Function").items():
        for event in properties.get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            spec = event["Properties"]
            api = spec.get("RestApiId", {}).get("Ref")
            default = apis.get(api, {}).get("Auth", {}).get("ApiKeyRequired", False)
            required = spec.get("Auth", {}).get("ApiKeyRequired", default)
            routes.append(ApiRoute(name, spec["Method"].upper(), spec["Path"], bool(required)))
    return routes
