"""Cold start: each handler module's import and module-level init in a fresh Python process,
as Lambda runs it, beside `import boto3` alone in the same rounds.

As Lambda: the function's folder, then the layer (layers/common and the layer's pinned
requirements, installed for this machine into .tools/cold-start-layer/) and nothing else: `-S`
leaves out .venv's site-packages, whose extras Lambda has not (httpx imports its command line,
rich and click, whenever they are installed). Lambda's runtime variables are set, so the
Powertools tracer is on and patches what it patches in Lambda, and the X-Ray SDK takes its Lambda
context (outside Lambda its sampler builds a botocore client at import). The functions get their
template environment with placeholder resource names, and an AWS endpoint that refuses
connections, so an import that called AWS would fail rather than be timed.

Each round starts one process per row, boto3's first: a busy machine slows a whole round, not
one row, and the ratios hold.
"""

import hashlib
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
REQUIREMENTS = ROOT / "layers" / "common" / "requirements.txt"
LAYER = ROOT / ".tools" / "cold-start-layer"
RUNS = 15
# Times only the import and what `then` does: the interpreter's own start is the same for
# every row. CPU time is the figure (a busy machine stretches wall time, not much CPU time);
# wall time is printed beside it.
PROBE = (
    "import importlib, time; c, w = time.process_time(), time.perf_counter(); "
    "module = importlib.import_module({module!r}); {then}; "
    "print(time.process_time() - c, time.perf_counter() - w)"
)
# What a first invocation imports on top, where a function leaves it to the requests that need
# it: the send API a route's module (the description: all of them), the drain its drainer's
# modules (a tick needs none), the processor the reservations (a status needs none), the
# webhook route the processor's status path (a body of statuses only, settled at the route).
FIRST_USE = {
    "SendFunction": {
        "POST /v1/messages": "module.include_routes('/v1/messages')",
        "GET /v1/docs": "module.include_routes('/v1/docs')",
    },
    "SchedulerFunction": {"a drainer": "import postino.drain.drainer"},
    "WebhookProcessorFunction": {"an inbound message": "import postino.reservations.service"},
    "WebhookFunction": {
        "a status": "import postino.services, postino.webhooks.process; "
        "postino.services.get_services()"
    },
}


@dataclass(frozen=True)
class Handler:
    logical_id: str
    folder: str
    module: str
    memory_mb: int


@dataclass(frozen=True)
class Row:
    name: str
    handler: Handler | None  # None: the reference, boto3 alone
    then: str = "None"


def handlers() -> list[Handler]:
    """The template's functions: folder from CodeUri, module from Handler."""
    from local.template_stack import load_template

    template = load_template()
    defaults = template["Globals"]["Function"]
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        code = str(properties.get("CodeUri", ""))
        if not code.startswith("functions/"):
            continue
        handler = properties.get("Handler", defaults.get("Handler", "app.lambda_handler"))
        module = str(handler).rsplit(".", 1)[0]
        memory = int(properties.get("MemorySize", defaults.get("MemorySize", 128)))
        found.append(Handler(logical_id, code.rstrip("/"), module, memory))
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


def layer_packages() -> Path:
    """The layer's requirements installed for this machine (the built layer is arm64), once for
    each version of requirements.txt."""
    version = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    target = LAYER / version
    if not (target / ".installed").exists():
        subprocess.run(  # noqa: S603 - our venv's pip, our own pinned requirements
            [
                *(str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
                *("--target", str(target), "--requirement", str(REQUIREMENTS)),
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        (target / ".installed").write_text(version + "\n")
    return target


def _lambda_environment(handler: Handler | None, packages: Path) -> dict[str, str]:
    folders = [ROOT / handler.folder] if handler else []
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": ":".join(str(f) for f in [*folders, ROOT / "layers" / "common", packages]),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "placeholder",
        "AWS_SECRET_ACCESS_KEY": "placeholder",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens: an AWS call would fail
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    }
    if handler is not None:
        environment |= {
            # What Lambda sets for every function: Powertools and the X-Ray SDK read them.
            "LAMBDA_TASK_ROOT": str(ROOT / handler.folder),
            "AWS_LAMBDA_FUNCTION_NAME": f"postino-{handler.logical_id}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(handler.memory_mb),
            **placeholder_environment(handler.logical_id),
        }
    return environment


def _import_seconds(row: Row, environment: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one fresh process's import."""
    module = row.handler.module if row.handler else "boto3"
    done = subprocess.run(  # noqa: S603 - our venv's python, our own probe
        [str(PYTHON), "-S", "-c", PROBE.format(module=module, then=row.then)],
        cwd=ROOT / row.handler.folder if row.handler else ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    cpu, wall = done.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def rows() -> list[Row]:
    found = [Row("(reference)", None)]
    for handler in handlers():
        found.append(Row(handler.logical_id, handler))
        for first, then in FIRST_USE.get(handler.logical_id, {}).items():
            found.append(Row(f"  + {first}", handler, then))
    return found


def measure() -> tuple[list[str], dict[str, Any]]:
    packages = layer_packages()
    table = rows()
    environments = [_lambda_environment(row.handler, packages) for row in table]
    timings: list[list[tuple[float, float]]] = [[] for _ in table]
    for _ in range(RUNS):
        for index, row in enumerate(table):
            timings[index].append(_import_seconds(row, environments[index]))
    boto3_cpu = statistics.median(cpu for cpu, _ in timings[0])
    boto3_wall = statistics.median(wall for _, wall in timings[0])
    lines = [
        f"Cold start: import of the handler module and its module-level init, as Lambda runs "
        f"it: median of {RUNS} fresh processes, CPU time (wall time beside it)",
        f"{'function':<28}{'module':<30}{'CPU ms':>8}{'x boto3':>9}{'wall ms':>9}{'x boto3':>9}",
    ]
    figures: dict[str, Any] = {
        "runs": RUNS,
        "boto3_cpu_ms": boto3_cpu * 1000,
        "boto3_wall_ms": boto3_wall * 1000,
        "functions": {},
    }
    for row, measured in zip(table, timings, strict=True):
        cpu = statistics.median(c for c, _ in measured)
        wall = statistics.median(w for _, w in measured)
        module = f"{row.handler.folder}/{row.handler.module}.py" if row.handler else "boto3"
        lines.append(
            f"{row.name:<28}{module:<30}{cpu * 1000:>8.0f}{cpu / boto3_cpu:>9.2f}"
            f"{wall * 1000:>9.0f}{wall / boto3_wall:>9.2f}"
        )
        if row.handler is None:
            continue
        entry = {
            "cpu_ms": cpu * 1000,
            "ratio_to_boto3": cpu / boto3_cpu,
            "wall_ms": wall * 1000,
            "wall_ratio_to_boto3": wall / boto3_wall,
        }
        function = figures["functions"].setdefault(
            row.handler.logical_id, {"module": module, "memory_mb": row.handler.memory_mb}
        )
        if row.then == "None":
            function.update(entry)
        else:
            function.setdefault("first_use", {})[row.name.removeprefix("  + ")] = entry
    ratio_max = max(f["ratio_to_boto3"] for f in figures["functions"].values())
    # run.py merges `cost` into the top-level `cost` object, beside the other parts' keys.
    figures["cost"] = {"cold_start_ratio_max": round(ratio_max, 2)}
    lines += [
        f"Largest ratio over import boto3 (CPU): {ratio_max:.2f}; the target is at most 2.",
        f"Python {sys.version.split()[0]}; the layer's pinned packages, installed for this "
        "machine; Lambda's own init (runtime start, layer unpack, VPC) is not included.",
    ]
    return lines, figures
