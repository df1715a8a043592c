"""`make bench`: Postino's figures, each beside its reference from the same run.

    .venv/bin/python bench/run.py [--only PART] [--messages N] [--drain-messages N]
        [--processor-messages N]

PART: aws_requests, cold_start, package_size, webhook_latency, drain_throughput, processor.

Prints a table and writes bench/results.json. Not part of `make test`.
"""

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results.json")
for entry in (str(ROOT), str(ROOT / "layers" / "common")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import (  # noqa: E402 - after the path is set
    aws_requests,
    cold_start,
    cost_report,
    drain_throughput,
    package_size,
    processor,
    webhook_latency,
)

PARTS = (
    "aws_requests",
    "cold_start",
    "package_size",
    "webhook_latency",
    "drain_throughput",
    "processor",
)


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


Part = Callable[[], tuple[list[str], dict[str, Any]]]


def quietly(part: Part) -> Part:
    """The handlers log and print their metrics (EMF) to stdout: kept out of the table."""

    def run() -> tuple[list[str], dict[str, Any]]:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return part()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=PARTS)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument(
        "--drain-messages", type=int, default=2000, help="queued per sender (drain_throughput)"
    )
    parser.add_argument(
        "--processor-messages", type=int, default=processor.MESSAGES,
        help="sent messages whose 3 statuses the processor takes (processor)",
    )  # fmt: skip
    args = parser.parse_args()
    host = machine()
    print(f"Machine: {host['cpu']}, {host['cores']} cores, Python {host['python']}")
    # Merged into what is there: --only one part, or `make bench-drain-*`, keeps the others.
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results |= {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": host}
    parts: dict[str, Part] = {
        "aws_requests": quietly(lambda: cost_report.report(aws_requests.measure(args.messages))),
        "cold_start": cold_start.measure,
        "package_size": package_size.measure,
        "webhook_latency": quietly(webhook_latency.measure),
        "drain_throughput": quietly(lambda: drain_throughput.measure(args.drain_messages)),
        "processor": quietly(lambda: processor.measure(args.processor_messages)),
    }
    for name, part in parts.items():
        if args.only and name != args.only:
            continue
        started = time.monotonic()
        lines, figures = part()
        figures["bench_seconds"] = round(time.monotonic() - started, 1)
        # A part's `cost` figures join the others' (each part writes only its own keys).
        results["cost"] = results.get("cost", {}) | figures.pop("cost", {})
        results[name] = figures
        print()
        print("\n".join(lines))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
