"""Local resources are created from the template's own definitions."""

import copy

import boto3
import pytest
from moto import mock_aws

from local.template_stack import create_stack_resources, function_environment, load_template
from postino.outbox import SenderQueues


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
    # A sender's queue, as the functions create it, redrives to the stack's dead-letter queue.
    environment = function_environment(resources, "SendFunction")
    queues = SenderQueues(
        environment["SENDER_QUEUE_PREFIX"], environment["OUTBOUND_DEAD_LETTER_ARN"]
    )
    url = queues.for_sender("default").queue_url
    queue = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert '"maxReceiveCount": 5' in queue["RedrivePolicy"]
    assert queue["RedrivePolicy"].count(resources.arns["OutboundDeadLetterQueue"]) == 1
    assert url.rsplit("/", 1)[1].startswith("pst-") and len(url.rsplit("/", 1)[1]) <= 80


@mock_aws
def test_the_functions_environment_names_what_exists() -> None:
    resources = create_stack_resources(parameter_overrides={"PhoneNumberId": "1065"})
    environment = function_environment(resources, "SendFunction")
    boto3.client("dynamodb").describe_table(TableName=environment["MESSAGES_TABLE"])
    sqs = boto3.client("sqs")
    sqs.get_queue_attributes(QueueUrl=environment["INGEST_QUEUE_URL"])
    dead_letter_url = sqs.get_queue_url(
        QueueName=environment["OUTBOUND_DEAD_LETTER_ARN"].rsplit(":", 1)[1]
    )["QueueUrl"]
    sqs.get_queue_attributes(QueueUrl=dead_letter_url)
    assert environment["DEFAULT_PHONE_NUMBER_ID"] == "1065"
    assert environment["DRAIN_FUNCTION_NAME"] == "postino-SchedulerFunction"
    assert "DRAIN_FUNCTION_NAME" not in function_environment(resources, "SchedulerFunction")


@mock_aws
def test_a_property_it_cannot_emulate_is_refused_not_dropped() -> None:
    template = copy.deepcopy(load_template())
    template["Resources"]["SendersTable"]["Properties"]["KinesisStreamSpecification"] = {
        "StreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/changes"
    }
    with pytest.raises(ValueError, match="KinesisStreamSpecification"):
        create_stack_resources(template)
