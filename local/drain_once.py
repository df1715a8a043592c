"""One round of the drain against a running local stack, in its own process: the schedule's
tick, then the drainer of every sender it wakes, each in a thread of its own (on AWS, each an
invocation of its own).

    python -m local.drain_once ENV_FILE [SECONDS]

ENV_FILE is what the stack wrote when started with POSTINO_ENV_FILE; SECONDS each drainer's time
limit (60, the template's timeout, by default). Prints the drainers' reports as JSON. The
end-to-end tests and the soak kill it mid-batch to prove that nothing is lost and nothing
doubled.
"""

import json
import os
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local.apigw import LambdaContext
from local.functions import load_function
from local.nudger import RecordingNudger, drain_round
from local.template_stack import REPO_ROOT


def main() -> int:
    env_file, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    sys.path[:0] = [str(REPO_ROOT / "layers" / "common")]
    # The stack's resources, and the drain function's own role's credentials (local/iam.py).
    os.environ.update(json.loads(Path(env_file).read_text()))
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POSTINO_LOG_LEVEL", "WARNING"),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    from postino.services import get_services

    scheduler = load_function("scheduler")
    nudger = RecordingNudger()
    get_services().nudger = nudger  # type: ignore[assignment]

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        context = LambdaContext(
            "postino-SchedulerFunction", str(uuid.uuid4()), timeout_seconds=seconds
        )
        report: dict[str, Any] = scheduler.lambda_handler(event, context)
        return report

    # Only the drainers the tick woke, all at once: a hand-over's nudge is left to the next round.
    _, reports = drain_round(nudger, invoke, all_at_once)
    print(json.dumps(reports), flush=True)
    return 0


def all_at_once(invoke: Any, events: Any) -> Iterator[dict[str, Any]]:
    """Each drainer in a thread of its own, as Lambda runs each invocation."""
    events = list(events)
    with ThreadPoolExecutor(max_workers=max(len(events), 1)) as pool:
        return iter(list(pool.map(invoke, events)))


if __name__ == "__main__":
    raise SystemExit(main())
