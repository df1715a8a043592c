"""A missing contract fails the run, naming the file; a missing tool skips, but not under
CI (.ci/run)."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest

from local.template_stack import REPO_ROOT
from tests.support.prerequisites import NO_SKIPS, require_contract, skip_or_fail


def outcome(call: Callable[[], object]) -> BaseException:
    """What a call raised. Not pytest.raises: a skip raised inside it would skip this test."""
    try:
        call()
    except BaseException as raised:
        return raised
    raise AssertionError("it raised nothing")


def test_a_missing_contract_fails_naming_the_path_and_where_it_belongs(tmp_path: Path) -> None:
    missing = tmp_path / "contracts" / "meta" / "business-messaging-api_v23.0.yaml"
    failed = outcome(lambda: require_contract(missing))
    assert isinstance(failed, pytest.fail.Exception)
    assert str(missing) in str(failed) and "../shared/contracts" in str(failed)


def test_a_folder_where_the_contract_should_be_fails_too(tmp_path: Path) -> None:
    failed = outcome(lambda: require_contract(tmp_path))
    assert isinstance(failed, pytest.fail.Exception) and str(tmp_path) in str(failed)


def test_a_contract_that_is_there_is_handed_back(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text("{}")
    assert require_contract(spec) == spec


@pytest.mark.parametrize("value", [None, "", "0"])
def test_a_missing_tool_skips_with_its_reason_outside_make_test(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(NO_SKIPS, raising=False)
    else:
        monkeypatch.setenv(NO_SKIPS, value)
    skipped = outcome(lambda: skip_or_fail("no /usr/bin/chromium"))
    assert isinstance(skipped, pytest.skip.Exception) and str(skipped) == "no /usr/bin/chromium"


def test_under_make_test_a_missing_tool_fails_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NO_SKIPS, "1")
    failed = outcome(lambda: skip_or_fail("no /usr/bin/chromium"))
    assert isinstance(failed, pytest.fail.Exception)
    assert str(failed).startswith("no /usr/bin/chromium") and "(CI)" in str(failed)


def test_without_the_contracts_the_tests_that_need_them_fail_and_the_run_exits_non_zero(
    tmp_path: Path,
) -> None:
    # GIVEN a checkout with no contracts beside it
    meta = tmp_path / "meta.yaml"
    waha = tmp_path / "waha.json"
    env = {**os.environ, "POSTINO_META_SPEC": str(meta), "POSTINO_WAHA_SPEC": str(waha)}
    env.pop(NO_SKIPS, None)  # the contracts are never a skip, make test or not
    # WHEN a test on Meta's peer (tests/conftest.py), one on WAHA's contract and the module on
    # Meta's contract run
    tests = [
        "tests/integration/test_webhook_ingest.py::test_a_signed_notification_is_queued_then_answered",
        "tests/integration/test_waha_peer.py::test_the_specs_slip_on_event_is_corrected",
        "tests/unit/test_meta_contract.py",
    ]
    junit = tmp_path / "report.xml"
    options = ["-p", "no:cacheprovider", "-q", "--continue-on-collection-errors"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *options, f"--junitxml={junit}", *tests],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN each fails naming the file it needs, nothing is skipped, and the run fails (read
    # from the JUnit report: the terminal's summary cuts its lines to the width, except on CI)
    out = result.stdout
    assert result.returncode != 0, out
    missing = {
        "meta": f"the peer's contract is not at {meta}",
        "waha": f"the peer's contract is not at {waha}",
    }

    def naming(text: str | None) -> list[str]:
        return [contract for contract, message in missing.items() if message in (text or "")]

    outcomes = {
        (case.get("classname"), case.get("name")): [
            (child.tag, naming(child.text)) for child in case
        ]
        for case in ElementTree.parse(junit).getroot().iter("testcase")  # noqa: S314 - our own
    }
    assert outcomes == {
        ("tests.integration.test_webhook_ingest", tests[0].split("::")[1]): [("error", ["meta"])],
        ("tests.integration.test_waha_peer", tests[1].split("::")[1]): [("error", ["waha"])],
        ("", "tests.unit.test_meta_contract"): [("error", ["meta"])],  # its collection
    }, out
