"""`make mutate`: mutmut over the modules that guard money, safety and secrets, and the score
in tests/mutation.json.

mutmut names each mutant after its file's path from the project root, or from src/, and
finds the tests that reach it by the module name they import. The layer's package lives in
layers/common/postino and is imported as `postino`, so mutmut runs in a staged copy
(.mutate/quick/ or .mutate/full/) where the package is also src/postino. Everything else is
as tracked (and as changed, not yet committed), and the peers' contracts are the project's own.

The unit tests (and the recorder's edges, on moto) are the default: a quarter of an hour.
With every integration test too (--full), the score can only rise, and the run takes hours
on two cores.

    python -m tests.mutate                      # every module below, the quick tests
    python -m tests.mutate postino/links.py     # one module (a path under the package)
    python -m tests.mutate --full               # with the integration tests
    python -m tests.mutate --again              # the last run's uncaught, with today's tests
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STAGES = ROOT / ".mutate"  # a stage for each selection of tests: quick/, full/
PACKAGE = Path("layers/common/postino")
RESULTS = ROOT / "tests" / "mutation.json"

# What the issue names, as paths under the package.
MODULES = [
    "drain/rate_window.py",  # the rate window: planning a send's slot
    "drain/slots.py",
    "store/rate_window.py",  # its conditional write
    "drain/record.py",  # the claim, and what a send's answer does to the message
    "drain/outcomes.py",
    "webhooks/signature.py",  # Meta's X-Hub-Signature-256
    "webhooks/waha_signature.py",  # WAHA's X-Webhook-Hmac
    "webhooks/receipts.py",  # the status receipts
    "reservations/detect.py",  # a RES-… code in a message
    "reservations/routing.py",  # the operator it goes to
    "send/rules.py",  # the conversation rules: the 24-hour window, opt-out
    "links.py",  # signed links
    "senders/allowed.py",  # secret names and WAHA hosts a sender may use
]
# The tiers that run in-process: mutmut can only see tests that import the package. The unit
# tests alone take minutes; with the integration tests (moto), hours: a mutant no test kills
# runs every test that reaches it, and the drain's are reached by a hundred of moto's.
# The recorder's work is conditional writes: its edges' tests run on moto, in a few seconds.
QUICK = ["tests/unit", "tests/integration/test_drain_record_edges.py"]
FULL = ["tests/unit", "tests/integration"]
# Mutants the tests run on longer than this are timeouts, not survivors (mutmut's default: 15).
TIMEOUT_MULTIPLIER = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="paths under postino/ (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--full",
        action="store_true",
        help="the integration tests too (hours, not minutes): a score that can only rise",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="in the last run's stage, with the tree's tests as they are now: only the mutants "
        "that run did not catch, or had not reached when it stopped",
    )
    args = parser.parse_args()
    modules = [m.removeprefix("postino/") for m in args.modules] or MODULES
    tests = FULL if args.full else QUICK
    stage = STAGES / ("full" if args.full else "quick")
    started = time.monotonic()
    prepare(stage, modules, tests, fresh=not args.again)
    mutmut = [sys.executable, "-m", "mutmut"]
    run = [*mutmut, "run", "--max-children", str(args.workers)]
    names = uncaught(stage, modules) if args.again else []
    if args.again:
        # Which tests reach which function, measured again on the tests as they are now: mutmut
        # updates it only for the functions that changed, with only some tests, and a mutant
        # run against too few tests survives what the others would catch.
        (stage / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    subprocess.run([*run, *names], cwd=stage, check=True)
    if args.again:
        # The mutants of a source changed since the last run were made by this one, after the
        # names above were read: run them too.
        new = [name for name in uncaught(stage, modules) if name not in names]
        if new:
            subprocess.run([*run, *new], cwd=stage, check=True)
    results = {"tests": tests, **tally(stage, modules)}
    minutes = round((time.monotonic() - started) / 60, 1)
    if args.again and RESULTS.exists():
        results["minutes"] = json.loads(RESULTS.read_text()).get("minutes")
        results["minutes_again"] = minutes
    else:
        results["minutes"] = minutes
    if not args.modules:  # a run over one module does not replace the whole score
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "modules"}))
    for name, counts in results["modules"].items():
        print(f"{counts['score']:6.2f}  {name}  {counts}")
    subprocess.run([*mutmut, "results"], cwd=stage, check=False)


def uncaught(stage: Path, modules: list[str]) -> list[str]:
    """The names of the last run's mutants that no test killed and that did not time out."""
    return [
        name
        for module in modules
        for name, code in _exit_codes(stage, module).items()
        if _outcome(code) not in ("killed", "timeout")
    ]


def prepare(stage: Path, modules: list[str], tests: list[str], *, fresh: bool) -> None:
    """The tracked tree, with the package also at src/postino, and mutmut's settings. Not
    fresh: copied over the last stage, where mutmut keeps its results (a file copied keeps its
    time, so mutmut makes new mutants only for a source that changed)."""
    if fresh:
        shutil.rmtree(stage, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted, not yet committed
        targets = [Path(name)]
        if targets[0].is_relative_to(PACKAGE):
            # Tests that start a process of their own (a cold start) import the layer as
            # Lambda does, from layers/common: that copy stays as it is, never mutated.
            targets.append(Path("src/postino") / targets[0].relative_to(PACKAGE))
        for target in targets:
            (stage / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, stage / target)
    if fresh:
        (stage / "shared").symlink_to((ROOT.parent / "shared").resolve())
        # The tools make installs (the SAM CLI's Python builds the template), where tests run.
        (stage / "mutants").mkdir()
        (stage / "mutants" / ".tools").symlink_to(ROOT / ".tools")
    pyproject = (stage / "pyproject.toml").read_text()
    pyproject = pyproject.replace('pythonpath = ["layers/common"', 'pythonpath = ["src"')
    settings = {
        "source_paths": ["src"],
        "only_mutate": [f"src/postino/{m}" for m in modules],
        # mutmut runs the tests in .mutate/mutants/: everything the tests read goes there too.
        "also_copy": sorted(p.name for p in stage.iterdir() if p.name not in ("src", "tests")),
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q"],
        "timeout_multiplier": TIMEOUT_MULTIPLIER,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    (stage / "pyproject.toml").write_text(pyproject + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n")


# mutmut's exit codes (mutmut/stats.py): 1 and 3 killed, 0 survived, timeouts by signal.
KILLED, SURVIVED, TIMEOUT = {1, 3}, {0}, {36, 24, -24, 152, 255}


def tally(stage: Path, modules: list[str]) -> dict[str, Any]:
    """Killed, survived and timed out, per module and in all. The score counts a timeout as
    caught (the mutant never finished), and a mutant no test reaches (or left unjudged) as
    not caught."""
    per_module = {
        f"postino/{module}": Counter(_outcome(code) for code in _exit_codes(stage, module).values())
        for module in modules
    }
    total: Counter[str] = sum(per_module.values(), Counter())
    return {
        **_summary(total),
        "modules": {name: _summary(counts) for name, counts in per_module.items()},
    }


def _exit_codes(stage: Path, module: str) -> dict[str, int | None]:
    meta = stage / "mutants" / "src" / "postino" / f"{module}.meta"
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return codes


def _outcome(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in TIMEOUT:
        return "timeout"
    return "no_tests" if code in (5, 33) else "other"


def _summary(counts: Counter[str]) -> dict[str, float | int]:
    caught = counts["killed"] + counts["timeout"]
    judged = caught + counts["survived"] + counts["no_tests"] + counts["other"]
    return {
        "killed": counts["killed"],
        "survived": counts["survived"],
        "timeout": counts["timeout"],
        "no_tests": counts["no_tests"],
        "other": counts["other"],  # not checked, suspicious, crashed: not caught either
        "score": round(caught / judged, 3) if judged else 0.0,
    }


if __name__ == "__main__":
    if not re.fullmatch(r"3\.1[2-9].*", sys.version.split()[0]):
        raise SystemExit("mutmut runs the tests: use the project's Python 3.12 (.venv/bin/python)")
    main()
