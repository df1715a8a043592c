"""The template passes the linters `make validate` runs, offline."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from local.template_stack import REPO_ROOT
from tests.support.prerequisites import skip_or_fail


def sam_cli() -> str:
    candidates = [
        os.environ.get("SAM_CLI", ""),
        str(REPO_ROOT / ".tools/sam/bin/sam"),
        shutil.which("sam") or "",
    ]
    found = next((c for c in candidates if c and Path(c).exists()), None)
    if found is None:
        skip_or_fail("the SAM CLI is not installed (make test installs it in .tools/sam)")
    return found


def test_cfn_lint_finds_nothing() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "template.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_sam_validate_lint_passes() -> None:
    result = subprocess.run(
        [sam_cli(), "validate", "--lint"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"SAM_CLI_TELEMETRY": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr
