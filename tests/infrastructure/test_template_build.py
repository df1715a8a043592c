"""`sam build` packs the layer (with aarch64 wheels) and both functions."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from local.template_stack import REPO_ROOT
from tests.infrastructure.test_template_lint import sam_cli
from tests.support.prerequisites import skip_or_fail


def python312() -> Path:
    found = shutil.which("python3.12")
    if (
        found
        and subprocess.run([found, "--version"], capture_output=True, check=False).returncode == 0
    ):
        return Path(found)
    pyenv = shutil.which("pyenv")  # without pyenv: a skip, not a FileNotFoundError
    root = ""
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout
    versions = Path(root.strip() or "/nonexistent").glob("versions/3.12*/bin/python3.12")
    for candidate in sorted(versions):
        return candidate
    skip_or_fail("no python3.12 on this machine: sam build needs the Lambda runtime's Python")


@pytest.mark.slow
def test_sam_build_packs_the_layer_and_the_functions(tmp_path: Path) -> None:
    sam = sam_cli()
    interpreter = python312()
    result = subprocess.run(
        [
            sam,
            "build",
            "--build-dir",
            str(tmp_path / "build"),
            "--template",
            "template.yaml",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ
        | {"SAM_CLI_TELEMETRY": "0", "PATH": f"{interpreter.parent}:{os.environ['PATH']}"},
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    layer = tmp_path / "build" / "CommonLayer" / "python"
    assert (layer / "postino" / "__init__.py").exists()
    assert (layer / "aws_lambda_powertools").is_dir()
    assert list((layer / "pydantic_core").glob("*aarch64*.so")), (
        "pydantic_core is not built for arm64"
    )
    for function in ("SendFunction", "SchedulerFunction"):
        assert (tmp_path / "build" / function / "app.py").exists()
    assert (tmp_path / "build" / "SendFunction" / "messages_routes.py").exists()
    for page in (
        "index.html",
        "admin.css",
        "admin.js",
        "live.js",
        "senders.js",
        "inbox.js",
        "campaigns.js",
        "routing.js",
    ):  # the dashboard's files
        assert (tmp_path / "build" / "SendFunction" / "admin" / page).exists()
