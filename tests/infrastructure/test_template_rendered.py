"""The template as it deploys: SAM-translated, every condition decided, once per parameter set.

What only shows after SAM's transform: the managed policies SAM attaches to a role it makes, the
names it gives what it generates (a schedule), and whether a second stack could sit beside the
first one in the same account and region.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.rendering import (
    PARAMETER_SETS,
    conditions,
    parameters_of,
    rendered,
    sam_python,
    translated,
)
from tests.support.prerequisites import skip_or_fail

if not sam_python().exists():
    skip_or_fail("the SAM CLI is not installed (make test installs it)")

SETS = list(PARAMETER_SETS)
VPC_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
FUNCTIONS_IN_VPC = (
    "SendFunction",
    "SchedulerFunction",
    "WebhookProcessorFunction",
    "MediaFunction",
)
CUSTOMER_TABLES = ("MessagesTable", "SendersTable", "InboxTable")
# Seconds-to-a-day state, deleted with the stack on purpose (see template.yaml).
SCRATCH_TABLES = ("RateWindowTable", "IdempotencyTable", "LiveConnectionsTable")
# Properties that set a resource's physical name, and the ones that are unique only within
# something of the stack's own (an API's stages, a namespace's services).
NAME_PROPERTIES = {
    "Name", "LayerName", "LogGroupName", "TableName", "QueueName", "RoleName", "TopicName",
    "AlarmName", "DashboardName", "Family", "ClusterName", "ServiceName", "FunctionName",
    "StageName", "BucketName", "GroupName", "ScheduleGroupName", "SecretName",
    "FileSystemName", "ManagedPolicyName",
}  # fmt: skip
SCOPED_NAMES = {
    ("AWS::ApiGateway::Stage", "StageName"),
    ("AWS::ApiGateway::Deployment", "StageName"),
    ("AWS::ApiGatewayV2::Stage", "StageName"),
    ("AWS::ServiceDiscovery::Service", "Name"),
}


def resources(name: str) -> dict[str, Any]:
    return dict(rendered(PARAMETER_SETS[name])["Resources"])


def arn_text(value: Any) -> str:
    """A managed policy ARN as one string, whether SAM wrote it out or the template subbed it."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return str(text).replace("${AWS::Partition}", "aws")


def test_the_parameter_sets_take_every_condition_both_ways() -> None:
    template = translated({})
    seen: dict[str, set[bool]] = {}
    for overrides in PARAMETER_SETS.values():
        for name, truth in conditions(template, parameters_of(overrides)).items():
            seen.setdefault(name, set()).add(truth)
    assert seen and all(truths == {True, False} for truths in seen.values()), seen


@pytest.mark.parametrize("parameter_set", SETS)
def test_no_role_lists_a_managed_policy_twice(parameter_set: str) -> None:
    # IAM refuses a role whose ManagedPolicyArns repeats an ARN: the deploy fails.
    for name, resource in resources(parameter_set).items():
        if resource["Type"] == "AWS::IAM::Role":
            arns = [arn_text(a) for a in resource["Properties"].get("ManagedPolicyArns", [])]
            assert len(arns) == len(set(arns)), (name, arns)


@pytest.mark.parametrize("parameter_set", SETS)
def test_functions_get_network_interfaces_only_in_wahas_vpc(parameter_set: str) -> None:
    waha = PARAMETER_SETS[parameter_set].get("EnableWaha") == "true"
    deployed = resources(parameter_set)
    for name, resource in deployed.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        in_vpc = "VpcConfig" in resource["Properties"]
        assert in_vpc == (waha and name in FUNCTIONS_IN_VPC), name
        role = deployed[resource["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        vpc_policies = [a for a in role["ManagedPolicyArns"] if arn_text(a).endswith(VPC_POLICY)]
        assert len(vpc_policies) == int(in_vpc), (name, role["ManagedPolicyArns"])


@pytest.mark.parametrize("parameter_set", SETS)
def test_no_physical_name_would_clash_with_a_second_stack(parameter_set: str) -> None:
    deployed = resources(parameter_set)
    for name, resource in deployed.items():
        for key, value in resource.get("Properties", {}).items():
            if key not in NAME_PROPERTIES or (resource["Type"], key) in SCOPED_NAMES:
                continue
            text = json.dumps(value)
            names_a_resource = isinstance(value, dict) and (
                value.get("Ref") in deployed or "Fn::GetAtt" in value
            )
            assert names_a_resource or "AWS::StackName" in text, (name, key, value)


@pytest.mark.parametrize("parameter_set", SETS)
def test_the_customers_tables_outlive_the_stack(parameter_set: str) -> None:
    deployed = resources(parameter_set)
    tables = {n for n, r in deployed.items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert tables == {*CUSTOMER_TABLES, *SCRATCH_TABLES}  # a new table decides which it is
    for name in CUSTOMER_TABLES:
        table = deployed[name]
        assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
        assert table["Properties"]["DeletionProtectionEnabled"] is True
        recovery = table["Properties"]["PointInTimeRecoverySpecification"]
        assert recovery["PointInTimeRecoveryEnabled"] is True
    for name in SCRATCH_TABLES:
        assert "DeletionPolicy" not in deployed[name]
    if "WahaFileSystem" in deployed:  # the paired phones
        assert deployed["WahaFileSystem"]["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("parameter_set", SETS)
def test_cfn_lint_finds_nothing_in_the_rendered_template(
    parameter_set: str, tmp_path: Path
) -> None:
    template = rendered(PARAMETER_SETS[parameter_set])
    overrides = PARAMETER_SETS[parameter_set]
    # The conditions are decided: a parameter only they read is read no more.
    used = json.dumps({k: v for k, v in template.items() if k != "Parameters"})
    template["Parameters"] = {
        name: parameter | ({"Default": overrides[name]} if name in overrides else {})
        for name, parameter in template["Parameters"].items()
        if f'"Ref": "{name}"' in used or "${" + name + "}" in used
    }
    path = tmp_path / "rendered.json"
    path.write_text(json.dumps(template, indent=1))
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    result = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
