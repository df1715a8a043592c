"""Cold start: each handler module's import and module-level init in a fresh Python process.

Measured beside `import boto3` alone in a fresh process. The functions get their template
environment with placeholder resource names, and an AWS endpoint that refuses connections, so
an import that called AWS would fail rather than be timed.
"""

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
RUNS = 15
# Times only the import: the interpreter's own start is the same for every row.
PROBE = (
    "import importlib, time; t = time.perf_counter(); importlib.import_module({module!r}); "
    "print(time.perf_counter() - t)"
)


@dataclass(frozen=True)
class Handler:
    logical_id: str
    folder: str
    module: str


def handlers() -> list[Handler]:
    """The template's functions: folder from CodeUri, module from Handler."""
    from local.template_stack import load_template

    template = load_template()
    default = template["Globals"]["Function"].get("Handler", "app.lambda_handler")
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        code = str(properties.get("CodeUri", ""))
        if not code.startswith("functions/"):
            continue
        module = str(properties.get("Handler", default)).rsplit(".", 1)[0]
        found.append(Handler(logical_id, code.rstrip("/"), module))
    return found


def placeholder_environment(logical_id: str) -> dict[str, str]:
    """The function's template environment, every resource given a made-up name."""
    from local.template_stack import StackResources, function_environment, load_template

    template = load_template()
    region, account = "us-east-1", "123456789012"
    names = list(template["Resources"])
    parameters = {
        name: str(spec.get("Default", "placeholder"))
        for name, spec in template.get("Parameters", {}).items()
    }
    resources = StackResources(
        stack_name="postino",
        region=region,
        account_id=account,
        parameters=parameters,
        physical={n: f"https://sqs.{region}.amazonaws.com/{account}/postino-{n}" for n in names},
        arns={n: f"arn:aws:sqs:{region}:{account}:postino-{n}" for n in names},
    )
    environment: dict[str, str] = function_environment(resources, logical_id, template)
    return environment


def _median_import(module: str, pythonpath: str, extra: dict[str, Any]) -> tuple[float, float]:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": pythonpath,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "placeholder",
        "AWS_SECRET_ACCESS_KEY": "placeholder",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens: an AWS call would fail
        **extra,
    }
    seconds = []
    for _ in range(RUNS):
        done = subprocess.run(  # noqa: S603 - our venv's python, our own probe
            [str(PYTHON), "-c", PROBE.format(module=module)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        seconds.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(seconds), max(seconds)


def measure() -> tuple[list[str], dict[str, Any]]:
    boto3, boto3_max = _median_import("boto3", "", {})
    lines = [
        f"Cold start: import of the handler module and its module-level init, fresh process, "
        f"median of {RUNS}",
        f"{'function':<28}{'module':<30}{'median ms':>11}{'max ms':>9}{'x boto3':>9}",
        f"{'(reference)':<28}{'boto3':<30}{boto3 * 1000:>11.0f}{boto3_max * 1000:>9.0f}{1.0:>9.1f}",
    ]
    figures: dict[str, Any] = {"runs": RUNS, "boto3_ms": boto3 * 1000, "functions": {}}
    for handler in handlers():
        pythonpath = f"{ROOT / 'layers' / 'common'}:{ROOT / handler.folder}"
        extra = placeholder_environment(handler.logical_id)
        median, most = _median_import(handler.module, pythonpath, extra)
        lines.append(
            f"{handler.logical_id:<28}{handler.folder + '/' + handler.module + '.py':<30}"
            f"{median * 1000:>11.0f}{most * 1000:>9.0f}{median / boto3:>9.1f}"
        )
        figures["functions"][handler.logical_id] = {
            "module": f"{handler.folder}/{handler.module}.py",
            "median_ms": median * 1000,
            "max_ms": most * 1000,
            "ratio_to_boto3": median / boto3,
        }
    lines.append(
        f"Python {sys.version.split()[0]}; dependencies from .venv, not the built layer; "
        "Lambda's own init (runtime start, layer unpack, VPC) is not included."
    )
    return lines, figures
