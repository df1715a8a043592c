"""Test settings applied before anything imports Powertools or boto3 (this package loads first)."""

import os

# Never reach a real AWS account from a test, whatever the machine's environment holds.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="1",
    POWERTOOLS_METRICS_NAMESPACE="Postino",
    POWERTOOLS_SERVICE_NAME="postino",
)
