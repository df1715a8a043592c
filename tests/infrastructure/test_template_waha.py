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
FUNCTIONS_IN_VPC = ("SendFunction", "SchedulerFunction", "WebhookProcessorFunction")


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
    assert environment["WHATSAPP_HOOK_URL"]["Fn::Sub"].endswith("/webhooks/waha")
    assert set(environment["WHATSAPP_HOOK_EVENTS"].split(",")) == {
        "message",
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


def test_the_image_is_pinned() -> None:
    image = TEMPLATE["Parameters"]["WahaImage"]["Default"]
    name, _, tag = image.rpartition(":")
    assert name == "devlikeapro/waha" and tag and tag != "latest"


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
