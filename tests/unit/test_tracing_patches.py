"""In Lambda the tracer patches botocore and httpx for X-Ray, each when it is first imported:
a cold start that needs neither does not import them, and nothing imported later goes untraced.

Tests run with the tracer off (outside Lambda), so this runs a process with Lambda's variables.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
import postino.observability
print("botocore.client" in sys.modules, "httpx" in sys.modules)
import boto3, httpx, botocore.client
print(type(botocore.client.BaseClient.__dict__["_make_api_call"]).__name__, httpx.Client.__name__)
"""


def test_botocore_and_httpx_are_patched_when_imported_and_not_imported_for_it() -> None:
    # GIVEN a process with Lambda's variables (the tracer on)
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "layers" / "common"),
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "webhook"),
        "AWS_LAMBDA_FUNCTION_NAME": "postino-test",
        "AWS_REGION": "us-east-1",
    }
    environment.pop("POWERTOOLS_TRACE_DISABLED", None)
    # WHEN the observability module is imported, and then boto3 and httpx
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, check=True
    )
    imported, patched = done.stdout.splitlines()
    # THEN neither came with the tracer, and both are X-Ray's once imported
    assert imported == "False False"
    assert patched == "FunctionWrapper _InstrumentedClient"
