"""The optional WAHA service on Fargate (EnableWaha): absent by default, one task when on."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.template_stack import REPO_ROOT, load_template
from tests.infrastructure.test_template_lint import sam_cli

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
WAHA_CONDITIONS = {"WahaEnabled", "WahaOnEfs", "WahaOnPostgres"}
FUNCTIONS_IN_VPC = (
    "SendFunction",
    "SchedulerFunction",
    "WebhookProcessorFunction",
    "MediaFunction",
)


def waha_resources() -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r.get("Condition") in WAHA_CONDITIONS}


def container() -> dict[str, Any]:
    definition = RESOURCES["WahaTaskDefinition"]["Properties"]["ContainerDefinitions"]
    (waha,) = definition
    return dict(waha)


def variant(tmp_path: Path, **defaults: str) -> Path:
    """template.yaml with other parameter defaults, beside the code it points at."""
    text = (REPO_ROOT / "template.yaml").read_text()
    for name, value in defaults.items():
        text, count = re.subn(
            rf"(\n  {name}:\n    Type: [^\n]+\n    Default: )[^\n]*",
            rf'\g<1>"{value}"',
            text,
        )
        assert count == 1, name
    path = tmp_path / "template.yaml"
    path.write_text(text)
    for folder in ("functions", "layers"):
        (tmp_path / folder).symlink_to(REPO_ROOT / folder)
    return path


ENABLED = {
    "EnableWaha": "true",
    "WahaVpcId": "vpc-0123456789abcdef0",
    "WahaPrivateSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
}


def test_without_enable_waha_nothing_of_waha_is_created() -> None:
    # Every WAHA resource carries a WAHA condition, and EnableWaha is false by default
    assert TEMPLATE["Parameters"]["EnableWaha"]["Default"] == "false"
    expected = {
        "WahaCluster", "WahaTaskDefinition", "WahaService", "WahaSecurityGroup",
        "FunctionsSecurityGroup", "WahaFileSystem", "WahaMountTargetA", "WahaMountTargetB",
        "WahaAccessPoint", "WahaNamespace", "WahaDiscoveryService", "WahaExecutionRole",
        "WahaTaskRole", "WahaLogGroup", "WahaFileSystemSecurityGroup",
    }  # fmt: skip
    assert set(waha_resources()) == expected
    untouched = {n for n in RESOURCES if n.startswith("Waha") or "Security" in n}
    assert untouched <= expected
    # AND the functions leave the VPC out unless WAHA runs
    for name in FUNCTIONS_IN_VPC:
        vpc = RESOURCES[name]["Properties"]["VpcConfig"]["Fn::If"]
        assert vpc[0] == "WahaEnabled" and vpc[2] == {"Ref": "AWS::NoValue"}
    assert "VpcConfig" not in RESOURCES["WebhookFunction"]["Properties"]


def test_one_waha_task_and_never_two_at_once() -> None:
    service = RESOURCES["WahaService"]["Properties"]
    assert service["DesiredCount"] == 1
    deployment = service["DeploymentConfiguration"]
    assert deployment["MinimumHealthyPercent"] == 0 and deployment["MaximumPercent"] == 100
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    assert service["ServiceRegistries"] == [
        {"RegistryArn": {"Fn::GetAtt": ["WahaDiscoveryService", "Arn"]}}
    ]


def test_the_task_gets_its_hook_its_keys_from_secrets_and_a_health_check() -> None:
    waha = container()
    environment = {e["Name"]: e["Value"] for e in waha["Environment"]}
    assert environment["WHATSAPP_DEFAULT_ENGINE"] == {"Ref": "WahaEngine"}
    # The webhook function's own URL (it ends in "/"), as the WahaWebhookUrl output gives it
    assert environment["WHATSAPP_HOOK_URL"] == TEMPLATE["Outputs"]["WahaWebhookUrl"]["Value"]
    assert environment["WHATSAPP_HOOK_URL"] == {
        "Fn::Sub": "${WebhookFunctionUrl.FunctionUrl}webhooks/waha"
    }
    # message.any, not message: what the owner types on the phone lands in its conversation
    assert set(environment["WHATSAPP_HOOK_EVENTS"].split(",")) == {
        "message.any",
        "message.reaction",
        "message.ack",
        "session.status",
    }
    secrets = {s["Name"]: s["ValueFrom"] for s in waha["Secrets"] if "Name" in s}
    # WAHA gets the key's hash (sha512:...), the functions the key itself
    assert secrets["WAHA_API_KEY"]["Fn::Sub"].endswith("${WahaApiKeySecretName}:api_key_sha512::")
    assert secrets["WHATSAPP_HOOK_HMAC_KEY"]["Fn::Sub"].endswith("${WahaHmacKeySecretName}")
    assert not any("API_KEY" in e["Name"] or "HMAC" in e["Name"] for e in waha["Environment"])
    assert "localhost:3000/ping" in waha["HealthCheck"]["Command"][1]
    assert waha["PortMappings"] == [{"ContainerPort": 3000, "Protocol": "tcp"}]


def test_sessions_live_on_efs_or_in_postgres() -> None:
    waha = container()
    mounts = waha["MountPoints"]["Fn::If"]
    assert mounts[0] == "WahaOnEfs"
    assert mounts[1] == [{"SourceVolume": "sessions", "ContainerPath": "/app/.sessions"}]
    volumes = RESOURCES["WahaTaskDefinition"]["Properties"]["Volumes"]["Fn::If"]
    efs = volumes[1][0]["EFSVolumeConfiguration"]
    assert efs["TransitEncryption"] == "ENABLED" and efs["AuthorizationConfig"]["IAM"] == "ENABLED"
    (postgres,) = [s["Fn::If"] for s in waha["Secrets"] if "Fn::If" in s]
    assert postgres[0] == "WahaOnPostgres"
    assert postgres[1]["Name"] == "WHATSAPP_SESSIONS_POSTGRESQL_URL"
    assert RESOURCES["WahaFileSystem"]["Properties"]["Encrypted"] is True
    assert RESOURCES["WahaFileSystem"]["DeletionPolicy"] == "Retain"


def test_only_the_functions_reach_wahas_port_and_only_waha_its_files() -> None:
    (ingress,) = RESOURCES["WahaSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert (ingress["FromPort"], ingress["ToPort"], ingress["IpProtocol"]) == (3000, 3000, "tcp")
    assert ingress["SourceSecurityGroupId"] == {"Ref": "FunctionsSecurityGroup"}
    assert "CidrIp" not in ingress
    (nfs,) = RESOURCES["WahaFileSystemSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert nfs["FromPort"] == 2049 and nfs["SourceSecurityGroupId"] == {"Ref": "WahaSecurityGroup"}


def test_the_image_is_pinned_and_built_for_the_tasks_architecture() -> None:
    parameters = TEMPLATE["Parameters"]
    image = parameters["WahaImage"]["Default"]
    name, _, tag = image.rpartition(":")
    # WAHA's tags are {browser}[-arm]-{version}; a bare browser tag floats like latest
    assert name == "devlikeapro/waha" and re.fullmatch(r"[a-z]+(-arm)?-\d{4}\.\d+\.\d+", tag), tag
    # AND the default image has the default engine, on the default architecture
    assert tag.startswith("gows-") and parameters["WahaEngine"]["Default"] == "GOWS"
    arm = "-arm-" in tag
    assert parameters["WahaCpuArchitecture"]["Default"] == ("ARM64" if arm else "X86_64")
    platform = RESOURCES["WahaTaskDefinition"]["Properties"]["RuntimePlatform"]
    assert platform["CpuArchitecture"] == {"Ref": "WahaCpuArchitecture"}


def test_sessions_come_back_when_the_task_is_replaced() -> None:
    environment = {e["Name"]: e["Value"] for e in container()["Environment"]}
    assert environment["WHATSAPP_RESTART_ALL_SESSIONS"] == "True"
    assert environment["WAHA_WORKER_ID"]  # fixed: the same in every task
    # AND nothing a browser would show is left on
    assert environment["WAHA_DASHBOARD_ENABLED"] == "False"
    assert environment["WHATSAPP_SWAGGER_ENABLED"] == "False"


def test_the_task_reads_its_secrets_only_and_the_functions_get_vpc_access_only_with_waha() -> None:
    (policy,) = RESOURCES["WahaExecutionRole"]["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    named = [r["Fn::Sub"] for r in statement["Resource"] if "Fn::Sub" in r]
    assert [n.rsplit(":secret:", 1)[1] for n in named] == [
        "${WahaApiKeySecretName}-*",
        "${WahaHmacKeySecretName}-*",
    ]
    # (the rendered roles, each parameter set: test_template_rendered.py)
    for name in FUNCTIONS_IN_VPC:
        managed = RESOURCES[f"{name}Role"]["Properties"]["ManagedPolicyArns"]
        (vpc_access,) = [p["Fn::If"] for p in managed if "Fn::If" in p]
        assert vpc_access[0] == "WahaEnabled" and vpc_access[2] == {"Ref": "AWS::NoValue"}
        assert vpc_access[1]["Fn::Sub"].endswith("AWSLambdaVPCAccessExecutionRole")
    # AND the WAHA key's secret sits under the prefix the functions may read
    prefix = TEMPLATE["Parameters"]["SecretsPrefix"]["Default"]
    assert TEMPLATE["Parameters"]["WahaApiKeySecretName"]["Default"].startswith(prefix)


def lint(path: Path) -> None:
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    result = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    sam = subprocess.run(
        [sam_cli(), "validate", "--lint", "--template-file", str(path)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"SAM_CLI_TELEMETRY": "0"},
    )
    assert sam.returncode == 0, sam.stdout + sam.stderr


@pytest.mark.parametrize("store", ["efs", "postgres"])
def test_the_template_with_waha_passes_both_linters(tmp_path: Path, store: str) -> None:
    extra = (
        {"WahaPostgresUrlSecretName": "postino/waha/postgres-url"} if store == "postgres" else {}
    )
    lint(variant(tmp_path, **ENABLED, WahaSessionStore=store, **extra))


RULE_FUNCTIONS = {"Fn::And", "Fn::Or", "Fn::Not", "Fn::Equals", "Fn::Contains", "Ref"}


def evaluate(node: Any, parameters: dict[str, Any]) -> Any:
    """The template's Rules, evaluated as CloudFormation would with these parameter values."""
    if not isinstance(node, dict):
        return [evaluate(n, parameters) for n in node] if isinstance(node, list) else node
    ((function, argument),) = node.items()
    assert function in RULE_FUNCTIONS, f"{function} is not a rule function"
    if function == "Ref":
        return parameters[argument]
    values = evaluate(argument, parameters)
    if function == "Fn::And":
        return all(values)
    if function == "Fn::Or":
        return any(values)
    if function == "Fn::Not":
        return not values[0]
    if function == "Fn::Equals":
        return values[0] == values[1]
    return values[1] in values[0]  # Fn::Contains: [list, string]


def failed_rules(**overrides: Any) -> list[str]:
    parameters: dict[str, Any] = {
        name: p.get("Default") for name, p in TEMPLATE["Parameters"].items()
    }
    parameters["WahaPrivateSubnetIds"] = parameters["WahaPrivateSubnetIds"].split(",")
    parameters.update(overrides)
    failed = []
    for name, rule in TEMPLATE["Rules"].items():
        if evaluate(rule.get("RuleCondition", True), parameters):
            failed += [
                f"{name}: {a['AssertDescription']}"
                for a in rule["Assertions"]
                if not evaluate(a["Assert"], parameters)
            ]
    return failed


def test_rules_refuse_waha_without_a_network_a_url_or_a_fargate_size() -> None:
    network = {"WahaVpcId": "vpc-1", "WahaPrivateSubnetIds": ["subnet-a", "subnet-b"]}
    assert failed_rules() == []  # off: nothing asked
    assert failed_rules(EnableWaha="true", **network) == []
    assert len(failed_rules(EnableWaha="true")) == 2
    assert failed_rules(EnableWaha="true", WahaSessionStore="postgres", **network) == [
        "WahaOnPostgresNeedsItsUrl: WahaSessionStore postgres needs WahaPostgresUrlSecretName."
    ]
    for cpu, memory in [("512", "512"), ("1024", "1024"), ("2048", "2048"), ("256", "4096")]:
        assert failed_rules(EnableWaha="true", WahaCpu=cpu, WahaMemory=memory, **network)
    assert not failed_rules(EnableWaha="true", WahaCpu="1024", WahaMemory="2048", **network)
