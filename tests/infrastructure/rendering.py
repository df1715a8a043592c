"""template.yaml as CloudFormation would deploy it: SAM's transform (local/sam_render.py),
then the conditions, for each set of parameters that between them take every condition."""

import re
import sys
from pathlib import Path
from typing import Any

from local.sam_render import sam_python as sam_python
from local.sam_render import translated as translated
from local.template_stack import ACCOUNT_ID, REPO_ROOT, StackResources, load_template
from local.template_stack import conditions as stack_conditions

NETWORK = {
    "WahaVpcId": "vpc-0123456789abcdef0",
    "WahaPrivateSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
}
# Between them, every condition of the template both ways.
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "waha-efs": {
        "EnableWaha": "true",
        **NETWORK,
        "AlarmEmail": "ops@example.com",
        "CloudWatchDashboard": "true",
        "CreateApiGatewayLogsRole": "false",
        "WahaAllowedBaseUrls": "http://10.0.*.*:3000,https://waha.example.com",
    },
    "waha-postgres": {
        "EnableWaha": "true",
        **NETWORK,
        "WahaSessionStore": "postgres",
        "WahaPostgresUrlSecretName": "postino/waha/postgres-url",
    },
}
STACK_NAME = "postino-test"


def parameters_of(overrides: dict[str, str]) -> dict[str, str]:
    """Every parameter's value: its default unless overridden."""
    defaults = {
        name: str(p.get("Default", "")) for name, p in load_template()["Parameters"].items()
    }
    return defaults | overrides


_NO_VALUE = object()


def rendered(overrides: dict[str, str]) -> dict[str, Any]:
    """SAM's output with the conditions decided: false resources and outputs gone, every Fn::If
    taken, Ref AWS::NoValue dropped."""
    template = translated(overrides)
    parameters = parameters_of(overrides)
    truths = conditions(template, parameters)

    def decide(value: Any) -> Any:
        if isinstance(value, list):
            return [d for d in (decide(v) for v in value) if d is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if value == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return decide(when_true if truths[name] else when_false)
        return {k: d for k, d in ((k, decide(v)) for k, v in value.items()) if d is not _NO_VALUE}

    kept = {
        section: {
            name: decide({k: v for k, v in item.items() if k != "Condition"})
            for name, item in template.get(section, {}).items()
            if truths.get(item.get("Condition", ""), True)
        }
        for section in ("Resources", "Outputs")
    }
    return {k: v for k, v in template.items() if k != "Conditions"} | kept


def conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """The template's Conditions decided for these parameters (as the local stack decides them)."""
    return stack_conditions(
        template, StackResources(STACK_NAME, "eu-west-1", ACCOUNT_ID, parameters)
    )


def write_variant(directory: Path, overrides: dict[str, str]) -> Path:
    """template.yaml with these parameters as its defaults, beside the code it points at: what
    a linter that takes no parameter values (checkov, cfn-lint) should see."""
    text = (REPO_ROOT / "template.yaml").read_text()
    for name, value in overrides.items():
        text, count = re.subn(
            rf"(\n  {name}:\n    Type: [^\n]+\n    Default: )[^\n]*", rf'\g<1>"{value}"', text
        )
        assert count == 1, name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "template.yaml"
    path.write_text(text)
    for folder in ("functions", "layers"):
        link = directory / folder
        if not link.exists():
            link.symlink_to(REPO_ROOT / folder)
    return path


if __name__ == "__main__":
    # make validate: one template per parameter set, for checkov.
    for name, overrides in PARAMETER_SETS.items():
        print(write_variant(Path(sys.argv[1]) / name, overrides))
