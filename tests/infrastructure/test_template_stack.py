"""Local resources are created from the template's own definitions."""

import copy

import boto3
import pytest
from moto import mock_aws

from local.template_stack import create_stack_resources, function_environment, load_template


@mock_aws
def test_tables_and_queues_match_the_template() -> None:
    template = load_template()
    resources = create_stack_resources(template)
    dynamodb = boto3.client("dynamodb")
    spec = template["Resources"]["MessagesTable"]["Properties"]
    table = dynamodb.describe_table(TableName=resources.physical["MessagesTable"])["Table"]
    assert table["KeySchema"] == spec["KeySchema"]
    assert {i["IndexName"]: i["KeySchema"] for i in table["GlobalSecondaryIndexes"]} == {
        i["IndexName"]: i["KeySchema"] for i in spec["GlobalSecondaryIndexes"]
    }
    ttl = dynamodb.describe_time_to_live(TableName=resources.physical["MessagesTable"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    queue = boto3.client("sqs").get_queue_attributes(
        QueueUrl=resources.physical["OutboundQueue"], AttributeNames=["All"]
    )["Attributes"]
    assert '"maxReceiveCount": 5' in queue["RedrivePolicy"]
    assert queue["RedrivePolicy"].count(resources.arns["OutboundDeadLetterQueue"]) == 1


@mock_aws
def test_the_functions_environment_names_what_exists() -> None:
    resources = create_stack_resources(parameter_overrides={"PhoneNumberId": "1065"})
    environment = function_environment(resources, "SendFunction")
    boto3.client("dynamodb").describe_table(TableName=environment["MESSAGES_TABLE"])
    boto3.client("sqs").get_queue_attributes(QueueUrl=environment["OUTBOUND_QUEUE_URL"])
    assert environment["DEFAULT_PHONE_NUMBER_ID"] == "1065"
    assert environment["DRAIN_FUNCTION_NAME"] == "postino-SchedulerFunction"
    assert "DRAIN_FUNCTION_NAME" not in function_environment(resources, "SchedulerFunction")


@mock_aws
def test_a_property_it_cannot_emulate_is_refused_not_dropped() -> None:
    template = copy.deepcopy(load_template())
    template["Resources"]["SendersTable"]["Properties"]["StreamSpecification"] = {
        "StreamViewType": "NEW_IMAGE"
    }
    with pytest.raises(ValueError, match="StreamSpecification"):
        create_stack_resources(template)
