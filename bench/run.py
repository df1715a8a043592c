"""`make bench`: Postino's figures, each beside its reference from the same run.

    .venv/bin/python bench/run.py [--only aws_requests|cold_start|package_size|webhook_latency] [--messages N]

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results.json")
for entry in (str(ROOT), str(ROOT / "layers" / "common")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import aws_requests, cold_start, package_size, webhook_latency  # noqa: E402 - after the path is set

PARTS = ("aws_requests", "cold_start", "package_size", "webhook_latency")


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


def run_aws_requests(messages: int) -> tuple[list[str], dict[str, Any]]:
    # The handlers log and print their metrics (EMF) to stdout: kept out of the table.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        counts = aws_requests.measure(messages)
    return aws_requests.report(counts)


def run_webhook_latency() -> tuple[list[str], dict[str, Any]]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return webhook_latency.measure()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=PARTS)
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()
    host = machine()
    print(f"Machine: {host['cpu']}, {host['cores']} cores, Python {host['python']}")
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": host,
    }
    parts = {
        "aws_requests": lambda: run_aws_requests(args.messages),
        "cold_start": cold_start.measure,
        "package_size": package_size.measure,
        "webhook_latency": run_webhook_latency,
    }
    for name, part in parts.items():
        if args.only and name != args.only:
            continue
        started = time.monotonic()
        lines, figures = part()
        figures["bench_seconds"] = round(time.monotonic() - started, 1)
        results[name] = figures
        print()
        print("\n".join(lines))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
