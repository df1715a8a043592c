"""Operations: every alarm reaches someone, every log group expires, the API logs its requests."""

from typing import Any

import pytest

from local.template_stack import REPO_ROOT, load_template
from tests.infrastructure.rendering import PARAMETER_SETS, rendered, sam_python
from tests.support.prerequisites import skip_or_fail

if not sam_python().exists():
    skip_or_fail("the SAM CLI is not installed (make test installs it)")

SETS = list(PARAMETER_SETS)
TOPIC = [{"Ref": "AlarmTopic"}]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in resources.items() if r["Type"] == kind}


def alarms_on(resources: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    return [a for a in alarms if a["MetricName"] == metric]


@pytest.mark.parametrize("parameter_set", SETS)
def test_every_alarm_tells_the_alarm_topic(parameter_set: str) -> None:
    resources = rendered(PARAMETER_SETS[parameter_set])["Resources"]
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert alarms and all(a["AlarmActions"] == TOPIC for a in alarms.values())
    # AND the topic mails AlarmEmail only when one is given
    subscriptions = of_type(resources, "AWS::SNS::Subscription")
    if PARAMETER_SETS[parameter_set].get("AlarmEmail"):
        (subscription,) = subscriptions.values()
        assert subscription["Endpoint"] == {"Ref": "AlarmEmail"}
        assert subscription["Protocol"] == "email" and subscription["TopicArn"] == TOPIC[0]
    else:
        assert not subscriptions


def test_each_function_has_an_errors_and_a_throttles_alarm() -> None:
    resources = rendered(PARAMETER_SETS["defaults"])["Resources"]
    functions = set(of_type(resources, "AWS::Lambda::Function"))
    assert len(functions) == 6
    for metric in ("Errors", "Throttles"):
        watched = {
            a["Dimensions"][0]["Value"]["Ref"]
            for a in alarms_on(resources, metric)
            if a["Namespace"] == "AWS/Lambda"
        }
        assert watched == functions, metric


def test_the_api_the_webhook_signatures_and_the_outbound_queue_are_watched() -> None:
    template = rendered(PARAMETER_SETS["defaults"])
    resources = template["Resources"]
    (api_errors,) = alarms_on(resources, "5XXError")
    dimensions = {d["Name"]: d["Value"] for d in api_errors["Dimensions"]}
    assert dimensions == {
        "ApiName": resources["PostinoApi"]["Properties"]["Name"],
        "Stage": {"Ref": "StageName"},
    }
    # The webhook's metric, where Powertools' EMF puts it: the namespace and service of Globals
    (signatures,) = alarms_on(resources, "WebhookSignatureInvalid")
    ingest = (REPO_ROOT / "layers/common/postino/webhooks/ingest.py").read_text()
    assert '"WebhookSignatureInvalid"' in ingest
    environment = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert signatures["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert signatures["Dimensions"] == [
        {"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}
    ]
    # The senders' queues are made at run time: each drainer reports how long a copy waited.
    (age,) = alarms_on(resources, "QueueWaitSeconds")
    assert age["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert age["Dimensions"] == [
        {"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}
    ]
    scheduler = (REPO_ROOT / "functions/scheduler/app.py").read_text()
    assert 'name="QueueWaitSeconds"' in scheduler
    # longer than SQS's longest delay (the drain's backoff) and a drain after it
    assert age["Threshold"] > 900 + 60
    assert "AlarmTopicArn" in template["Outputs"]


def test_the_cloudwatch_dashboard_is_there_when_asked_for() -> None:
    # An idle month's largest item ($3 past an account's first three): off unless asked for
    defaults = rendered(PARAMETER_SETS["defaults"])
    assert not of_type(defaults["Resources"], "AWS::CloudWatch::Dashboard")
    assert "DashboardUrl" not in defaults["Outputs"]
    asked = rendered(PARAMETER_SETS["waha-efs"])
    assert PARAMETER_SETS["waha-efs"]["CloudWatchDashboard"] == "true"
    assert of_type(asked["Resources"], "AWS::CloudWatch::Dashboard")
    assert "DashboardUrl" in asked["Outputs"]


@pytest.mark.parametrize("parameter_set", SETS)
def test_every_log_group_expires_and_every_function_logs_to_one_of_ours(
    parameter_set: str,
) -> None:
    resources = rendered(PARAMETER_SETS[parameter_set])["Resources"]
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())
    for name, function in of_type(resources, "AWS::Lambda::Function").items():
        # Lambda would otherwise create /aws/lambda/<name> itself, kept forever
        assert function["LoggingConfig"]["LogGroup"]["Ref"] in groups, name


@pytest.mark.parametrize("parameter_set", SETS)
def test_the_api_writes_an_access_log_once_the_account_can(parameter_set: str) -> None:
    resources = rendered(PARAMETER_SETS[parameter_set])["Resources"]
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert stage["AccessLogSetting"]["DestinationArn"] == {
        "Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]
    }
    assert "$context.requestId" in stage["AccessLogSetting"]["Format"]
    accounts = of_type(resources, "AWS::ApiGateway::Account")
    if PARAMETER_SETS[parameter_set].get("CreateApiGatewayLogsRole") == "false":
        assert not accounts
    else:
        (account,) = accounts.values()
        assert account["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayLogsRole", "Arn"]}
        # the stage refers to it, so CloudFormation creates the stage after it
        assert {"Key": "logs-role", "Value": {"Ref": "ApiGatewayAccount"}} in stage["Tags"]


def test_each_checkov_skip_names_its_check_and_says_why() -> None:
    skips = [
        (name, skip)
        for name, resource in load_template()["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert skip["id"].startswith(("CKV_", "CKV2_")), name
        assert len(skip.get("comment", "")) > 40, (name, skip["id"])
