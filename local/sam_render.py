"""template.yaml through SAM's transform: the CloudFormation `sam deploy` would send.

The SAM translator runs in the SAM CLI's own venv (.tools/sam), the one `sam deploy` uses: it
pins a pydantic older than the functions' own, so the dev venv cannot carry it. Policies name
AWS managed policies by ARN, so the translator needs no IAM lookup (an empty managed-policy
map) and no AWS account.
"""

import copy
import json
import os
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from local.template_stack import REPO_ROOT, load_template

_TRANSLATE = """
import json, sys
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
request = json.load(sys.stdin)
translator = Translator(managed_policy_map={}, sam_parser=Parser())
template, parameters = request["template"], request["parameters"]
json.dump(translator.translate(sam_template=template, parameter_values=parameters), sys.stdout)
"""


def sam_python() -> Path:
    return REPO_ROOT / ".tools/sam/bin/python"


@cache
def _translated(parameters: tuple[tuple[str, str], ...], region: str) -> str:
    template = copy.deepcopy(load_template())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for code in ("CodeUri", "ContentUri"):  # as `sam package` leaves them: S3 locations
            if code in properties:
                properties[code] = f"s3://postino-artifacts/{properties[code]}"
    result = subprocess.run(  # noqa: S603 - our own script, in our own venv
        [str(sam_python()), "-c", _TRANSLATE],
        input=json.dumps({"template": template, "parameters": dict(parameters)}),
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"AWS_DEFAULT_REGION": region},
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"SAM's transform failed (make {sam_python()}):\n{result.stderr[-3000:]}"
        )
    return result.stdout


def translated(parameters: Mapping[str, str], region: str = "eu-west-1") -> dict[str, Any]:
    """SAM's output: plain CloudFormation, conditions still in it."""
    rendered: dict[str, Any] = json.loads(_translated(tuple(sorted(parameters.items())), region))
    return rendered
