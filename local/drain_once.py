"""One drain invocation against a running local stack, in its own process (as Lambda runs it).

    python -m local.drain_once ENV_FILE [SECONDS]

ENV_FILE is what the stack wrote when started with POSTINO_ENV_FILE; SECONDS the invocation's
time limit (60, the template's timeout, by default). Prints the drain's report as JSON. The
end-to-end tests kill it mid-batch to prove that nothing is lost and nothing doubled.
"""

import json
import os
import sys
import uuid
from pathlib import Path

from local.apigw import LambdaContext
from local.functions import load_function
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
    scheduler = load_function("scheduler")
    context = LambdaContext("postino-SchedulerFunction", str(uuid.uuid4()), timeout_seconds=seconds)
    report = scheduler.lambda_handler({"source": "postino.schedule", "action": "drain"}, context)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
