"""What tests need from outside the project, and what happens when it is not there.

The peers' published contracts (../shared/contracts beside the project) are part of the test
stack: without them a test fails, naming the file, since a skip would let a run that tested
nothing pass. A tool (SAM CLI, python3.12, chromium) may be missing on a developer's machine:
that is a skip with the reason in the summary, except where POSTINO_NO_SKIPS=1 (CI, .ci/run,
which installs them): there every test must run.
"""

import os
from pathlib import Path
from typing import NoReturn

import pytest

NO_SKIPS = "POSTINO_NO_SKIPS"


def require_contract(path: Path) -> Path:
    """The contract at `path`, or the test fails saying where it belongs."""
    __tracebackhide__ = True  # pytest reports the line that needs the contract, not this one
    if not path.is_file():
        pytest.fail(
            f"the peer's contract is not at {path}: the published contracts are a folder beside"
            " the project, ../shared/contracts (its README says where each file comes from);"
            " put it there, or point POSTINO_META_SPEC / POSTINO_WAHA_SPEC at the file",
            pytrace=False,
        )
    return path


def skip_or_fail(why: str) -> NoReturn:
    """Skip for a missing tool, with the reason; in CI (POSTINO_NO_SKIPS), fail with it instead."""
    __tracebackhide__ = True
    if os.environ.get(NO_SKIPS, "") not in ("", "0"):
        pytest.fail(f"{why}; {NO_SKIPS} is set (CI): every test must run", pytrace=False)
    pytest.skip(why, allow_module_level=True)
