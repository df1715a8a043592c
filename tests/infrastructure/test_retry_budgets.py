"""Each function's timeout holds its slowest AWS call, every retry of it timing out."""

from typing import Any

import pytest

from local.template_stack import load_template
from postino.aws import BUDGETS
from postino.settings import Settings

TEMPLATE = load_template()
FUNCTIONS = {
    name: resource["Properties"]
    for name, resource in TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}
# What every function may call on the message's path; the media function also keeps files in S3.
ON_THE_PATH = ("dynamodb", "sqs", "events", "secretsmanager")


def timeout_of(function: dict[str, Any]) -> int:
    timeout: int = function.get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])
    return timeout


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_function_outlasts_its_slowest_aws_call(name: str) -> None:
    services = [*ON_THE_PATH, "s3"] if name == "MediaFunction" else ON_THE_PATH
    slowest = max(BUDGETS[service].worst_case_seconds() for service in services)
    assert timeout_of(FUNCTIONS[name]) > slowest, (name, slowest)


def test_the_drain_keeps_time_for_a_write_that_retries_to_the_end() -> None:
    # The claim and the record are DynamoDB writes: one begun just before the drain stops
    # taking work ends before the function's timeout.
    margin = Settings.model_fields["drain_margin_seconds"].default
    assert margin >= BUDGETS["dynamodb"].worst_case_seconds()


def test_no_client_waits_botocores_default_minute() -> None:
    for service, budget in BUDGETS.items():
        config = vars(budget.config())  # botocore's Config sets its options as attributes
        assert config["read_timeout"] <= 10 and config["connect_timeout"] <= 2, service
        assert config["retries"] == {"mode": "standard", "total_max_attempts": budget.attempts}
