"""The template's resources and their wiring."""

from typing import Any

import pytest

from local.template_stack import api_routes, load_template
from postino.outbox import MAX_RECEIVES, QUEUE_ATTRIBUTES
from postino.webhooks.ingest import MAX_BODY_BYTES

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
# The API's own description and the dashboard's static page (it asks for the key and sends it
# to /v1). Meta's and WAHA's webhooks are on the webhook function's own URL, not the API
# (tests/infrastructure/test_template_webhook_url.py).
PUBLIC_ROUTES = {
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/docs"),
    ("GET", "/admin"),
    ("GET", "/admin/{asset}"),
}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def test_every_function_runs_python312_on_arm64_with_the_layer() -> None:
    globals_ = TEMPLATE["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12" and globals_["Architectures"] == ["arm64"]
    assert globals_["Layers"] == [{"Ref": "CommonLayer"}]
    for function in of_type("AWS::Serverless::Function").values():
        assert "Runtime" not in function["Properties"] and "Layers" not in function["Properties"]
    layer = RESOURCES["CommonLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.12", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["ContentUri"] == "layers/common/"


def test_every_v1_route_needs_the_api_key_but_the_apis_description_and_the_dashboard() -> None:
    routes = api_routes()
    assert {(r.method, r.path) for r in routes if not r.api_key_required} == PUBLIC_ROUTES
    assert all(r.path.startswith(("/v1/", "/admin")) for r in routes)
    assert RESOURCES["PostinoUsagePlanKey"]["Properties"]["KeyId"] == {"Ref": "PostinoApiKey"}
    stages = RESOURCES["PostinoUsagePlan"]["Properties"]["ApiStages"]
    assert stages == [{"ApiId": {"Ref": "PostinoApi"}, "Stage": {"Ref": "PostinoApi.Stage"}}]


def test_every_queue_has_a_dead_letter_queue_watched_by_an_alarm() -> None:
    queues = of_type("AWS::SQS::Queue")
    dead_letter = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    assert dead_letter and dead_letter <= set(queues)
    # The senders' outbound queues are made at run time (postino/outbox.py), with the same
    # redrive to the outbound dead-letter queue.
    assert set(queues) - dead_letter == {"IngestQueue", "OutboundDeadLetterQueue", "MediaQueue"}
    assert RESOURCES["IngestQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    assert MAX_RECEIVES == 5
    for queue in ("OutboundQueue", "IngestQueue"):
        alarm = RESOURCES[queue.replace("Queue", "DeadLetterAlarm")]["Properties"]
        assert alarm["Dimensions"][0]["Value"] == {
            "Fn::GetAtt": [queue.replace("Queue", "DeadLetterQueue"), "QueueName"]
        }
    # A copy must not come back while its drainer may still run.
    timeout = RESOURCES["SchedulerFunction"]["Properties"]["Timeout"]
    assert int(QUEUE_ATTRIBUTES["VisibilityTimeout"]) > timeout
    # AWS's advice for SQS event sources: visibility at least six times the function's timeout.
    processor = RESOURCES["WebhookProcessorFunction"]["Properties"]
    assert RESOURCES["IngestQueue"]["Properties"]["VisibilityTimeout"] >= 6 * processor["Timeout"]
    event = processor["Events"]["IngestQueueRecords"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The route refuses what the queue cannot hold (postino.webhooks.ingest.MAX_BODY_BYTES).
    assert RESOURCES["IngestQueue"]["Properties"]["MaximumMessageSize"] == MAX_BODY_BYTES


def test_tables_are_on_demand_with_ttl_where_records_expire() -> None:
    tables = of_type("AWS::DynamoDB::Table")
    assert set(tables) == {
        "MessagesTable",
        "SendersTable",
        "RateWindowTable",
        "IdempotencyTable",
        "InboxTable",
        "LiveConnectionsTable",
    }
    for table in tables.values():
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    for name in ("MessagesTable", "SendersTable", "InboxTable"):
        assert tables[name]["Properties"]["PointInTimeRecoverySpecification"][
            "PointInTimeRecoveryEnabled"
        ]
    ttl = {
        n: t["Properties"].get("TimeToLiveSpecification", {}).get("AttributeName")
        for n, t in tables.items()
    }
    assert ttl == {
        "MessagesTable": "expires_at",
        "SendersTable": None,
        "RateWindowTable": "expires_at",
        "IdempotencyTable": "expiration",
        "InboxTable": "expires_at",
        "LiveConnectionsTable": "expires_at",
    }
    indexes = {
        i["IndexName"] for i in tables["MessagesTable"]["Properties"]["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "by_reference",
        "by_created",
        "by_provider_message_id",
        "by_due",
        "by_recipient",
        "by_campaign",
    }


def test_the_drain_runs_every_minute() -> None:
    (event,) = RESOURCES["SchedulerFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == "rate(1 minute)"


def statements_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The policy statements a function's own Policies or an IAM role writes out."""
    policies = resource["Properties"].get("Policies", [])
    if not isinstance(policies, list):  # under an Fn::If: tests/infrastructure/test_template_waha
        return []
    documents = [p.get("PolicyDocument", p) for p in policies]
    return [s for document in documents for s in document.get("Statement", [])]


def test_permissions_are_policy_templates_or_narrow_statements() -> None:
    roles = of_type("AWS::IAM::Role") | of_type("AWS::Serverless::Function")
    for name, resource in roles.items():
        for statement in statements_of(resource):
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            assert all("*" not in action for action in actions), (name, actions)
            # IAM names no resource for dynamodb:ListStreams (a stream source's poller lists).
            assert statement["Resource"] != "*" or actions == ["dynamodb:ListStreams"], name
    # AND every function runs under a role the template defines, or one SAM makes from Policies
    for name, function in of_type("AWS::Serverless::Function").items():
        role = function["Properties"].get("Role")
        assert ("Policies" in function["Properties"]) != (role is not None), name
        assert role is None or role == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, name


@pytest.mark.parametrize("name", list(TEMPLATE["Parameters"]))
def test_no_parameter_holds_a_secret(name: str) -> None:
    default = str(TEMPLATE["Parameters"][name].get("Default", ""))
    assert not default.startswith(("EAA", "sk-")) and len(default) < 64


def test_the_outputs_a_user_needs_exist() -> None:
    assert {
        "ApiUrl",
        "ApiKeyId",
        "SenderQueuePrefix",
        "MessagesTableName",
        "SendFunctionName",
    } <= set(TEMPLATE["Outputs"])
