"""The AWS fault layer (local/aws_faults.py, local/moto_faults.py): its plan, and each kind of
fault as a real boto3 client meets it, from moto's server and from moto in-process."""

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from random import Random
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from local.aws_faults import AwsFaults, FaultPlan, PlanRefused, operation_of, parse_plan
from local.meta_contract import spec_path
from local.moto_faults import injected, serve_with_faults
from local.sandbox import MetaSandbox
from local.spawn import free_port
from tests.support.prerequisites import require_contract

SOAK_PLAN = """{"seed": 7, "rules": [
    {"match": "dynamodb:*", "throttle": 0.02, "error_500": 0.01},
    {"match": "sqs:*", "error_500": 0.01},
    {"match": "writes", "applied_then_dropped": 0.005}]}"""
ITEM = {"pk": {"S": "message-1"}}


def plan(match: str, **rates: Any) -> FaultPlan:
    return FaultPlan.model_validate({"rules": [{"match": match, **rates}]})


# ---- the plan ------------------------------------------------------------------------------


def test_the_soak_plan_parses_into_rules_that_match_by_service_operation_and_group() -> None:
    rules = parse_plan(SOAK_PLAN).rules
    put, get = operation_of("DynamoDB_20120810.PutItem"), operation_of(b"DynamoDB_20120810.GetItem")
    send, events = operation_of("AmazonSQS.SendMessageBatch"), operation_of("AWSEvents.PutEvents")
    assert put and get and send and events
    assert [r.match for r in rules if r.matches(put)] == ["dynamodb:*", "writes"]
    assert [r.match for r in rules if r.matches(get)] == ["dynamodb:*"]
    assert [r.match for r in rules if r.matches(send)] == ["sqs:*", "writes"]
    assert [r.match for r in rules if r.matches(events)] == ["writes"]


def test_requests_without_a_known_target_are_never_faulted() -> None:
    # IAM, STS, S3 and Lambda carry no X-Amz-Target; Secrets Manager is not a faulted service
    assert operation_of(None) is None and operation_of("") is None
    assert operation_of("secretsmanager.GetSecretValue") is None
    faults = AwsFaults(plan("dynamodb:*", error_500=1.0))
    assert faults.draw(None) is None and faults.draw("AmazonSQS.SendMessage") is None


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ('{"rules": [{"match": "dynamodb:*", "throttle": 1.5}]}', "rules.0.throttle"),
        ('{"rules": [{"match": "sqs:*", "error_500": -0.1}]}', "rules.0.error_500"),
        ('{"rules": [{"match": "sqs:*", "eror_500": 0.1}]}', "rules.0.eror_500"),
        ('{"seed": 7, "rule": []}', "rule"),
        ('{"rules": [{"match": "iam:*", "throttle": 0.1}]}', "the service is one of"),
        ('{"rules": [{"match": "dynamodb:PutItems", "throttle": 0.1}]}', "no operation 'PutItems'"),
        ('{"rules": [{"match": "writes", "throttle_as": "SlowDown"}]}', "rules.0.throttle_as"),
        ('{"rules": [', "Invalid JSON"),
    ],
)
def test_a_plan_with_a_bad_rate_an_unknown_key_or_a_bad_match_is_refused(
    raw: str, named: str
) -> None:
    with pytest.raises(PlanRefused, match=named.replace("(", r"\(")):
        parse_plan(raw)


def test_an_empty_body_is_the_empty_plan() -> None:
    assert parse_plan("") == parse_plan("{}") == FaultPlan()


def test_the_draws_follow_the_seed_and_the_counts_name_kind_and_operation() -> None:
    every = plan("dynamodb:*", throttle=0.3, error_500=0.3)
    targets = ["DynamoDB_20120810.PutItem", "DynamoDB_20120810.GetItem"] * 50

    def kinds(faults: AwsFaults) -> list[str | None]:
        return [getattr(faults.draw(t), "kind", None) for t in targets]

    first, again = AwsFaults(every), AwsFaults(every)
    assert kinds(first) == kinds(again)
    report = first.report()
    assert report["plan"]["rules"][0]["match"] == "dynamodb:*"
    assert sum(report["injected"]["throttle"].values()) == report["totals"]["throttle"] > 0
    assert set(report["injected"]["error_500"]) == {"dynamodb:PutItem", "dynamodb:GetItem"}
    # A new plan starts its counts from zero; the old plan's report is handed back
    assert first.use(FaultPlan())["totals"] == report["totals"]
    assert first.report()["totals"] == {"throttle": 0, "error_500": 0, "applied_then_dropped": 0}


# ---- each kind, through a real client, from moto's server and moto in-process ----------------


@dataclass
class Moto:
    """Where the client goes (moto's server, or in-process when None), and how faults are set."""

    endpoint: str | None
    faulty: Callable[[FaultPlan], AbstractContextManager[AwsFaults]]

    def client(self, service: str, attempts: int) -> Any:
        """A client making at most `attempts` attempts (botocore's own retries: standard mode)."""
        retries: Any = {"mode": "standard", "total_max_attempts": attempts}
        any_service: Any = boto3.client  # boto3-stubs type a client by its service's literal name
        return any_service(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries=retries),
        )

    def table(self) -> str:
        name = f"faults-{uuid.uuid4().hex[:8]}"
        self.client("dynamodb", 1).create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return name

    def item(self, table: str) -> Any:
        return self.client("dynamodb", 1).get_item(TableName=table, Key=ITEM).get("Item")


@pytest.fixture(scope="module")
def moto_server() -> Iterator[tuple[str, AwsFaults]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    faults = AwsFaults()
    serve_with_faults(server, faults)
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}", faults
    server.stop()


@pytest.fixture(params=["server", "in_process"])
def moto(request: pytest.FixtureRequest) -> Iterator[Moto]:
    if request.param == "in_process":
        with mock_aws():
            yield Moto(None, injected)
        return
    endpoint, faults = request.getfixturevalue("moto_server")

    @contextmanager
    def in_force(plan: FaultPlan) -> Iterator[AwsFaults]:
        faults.use(plan)
        try:
            yield faults
        finally:
            faults.use(FaultPlan())

    yield Moto(endpoint, in_force)


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_a_throttle_never_reaches_moto_and_botocore_retries_it(moto: Moto, code: str) -> None:
    table = moto.table()
    # GIVEN every PutItem throttled
    with moto.faulty(plan("dynamodb:PutItem", throttle=1.0, throttle_as=code)) as faults:
        # WHEN a client with one retry puts an item
        with pytest.raises(ClientError) as raised:
            moto.client("dynamodb", 2).put_item(TableName=table, Item=ITEM)
        injected = faults.report()["injected"]
    # THEN it sees DynamoDB's throttle after its retry, and nothing was written
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert injected["throttle"] == {"dynamodb:PutItem": 2}
    assert moto.item(table) is None


def test_a_500_never_reaches_moto_and_surfaces_as_the_services_own_error(moto: Moto) -> None:
    table = moto.table()
    queue = moto.client("sqs", 1).create_queue(QueueName=table)["QueueUrl"]
    with moto.faulty(plan("dynamodb:*", error_500=1.0)), pytest.raises(ClientError) as dynamodb:
        moto.client("dynamodb", 1).put_item(TableName=table, Item=ITEM)
    with moto.faulty(plan("sqs:*", error_500=1.0)) as faults:
        with pytest.raises(ClientError) as sqs:
            moto.client("sqs", 2).send_message(QueueUrl=queue, MessageBody="hello")
        injected = faults.report()["injected"]
    assert dynamodb.value.response["Error"]["Code"] == "InternalServerError"
    assert sqs.value.response["Error"]["Code"] == "InternalFailure"
    assert sqs.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert injected["error_500"] == {"sqs:SendMessage": 2}  # retried once
    assert moto.item(table) is None
    depth = moto.client("sqs", 1).get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_applied_then_dropped_writes_the_item_and_the_client_sees_the_connection_close(
    moto: Moto,
) -> None:
    table = moto.table()
    with (
        moto.faulty(plan("writes", applied_then_dropped=1.0)),
        pytest.raises(ConnectionClosedError),
    ):
        moto.client("dynamodb", 1).put_item(TableName=table, Item=ITEM)
    assert moto.item(table) == ITEM


def test_a_dropped_conditional_put_fails_its_own_condition_when_botocore_retries_it(
    moto: Moto,
) -> None:
    """The case the product must survive: its write took effect, and its retry says it failed."""
    table = moto.table()
    # GIVEN a seed whose first draw drops the request and whose second lets the retry through
    seed = next(s for s in range(100) if (r := Random(s)).random() < 0.5 <= r.random())
    dropped_once = FaultPlan.model_validate(
        {"seed": seed, "rules": [{"match": "writes", "applied_then_dropped": 0.5}]}
    )
    with moto.faulty(dropped_once) as faults:
        # WHEN a conditional put (write once) is dropped after it took effect
        with pytest.raises(ClientError) as raised:
            moto.client("dynamodb", 2).put_item(
                TableName=table, Item=ITEM, ConditionExpression="attribute_not_exists(pk)"
            )
        injected = faults.report()["injected"]
    # THEN botocore's retry finds its own write and fails the condition: the caller reads a
    # refusal of what in fact succeeded
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert injected["applied_then_dropped"] == {"dynamodb:PutItem": 1}
    assert moto.item(table) == ITEM


def test_the_in_process_layer_is_gone_after_its_block() -> None:
    with mock_aws():
        moto = Moto(None, injected)
        table = moto.table()
        with injected(plan("dynamodb:*", error_500=1.0)):
            pass
        moto.client("dynamodb", 1).put_item(TableName=table, Item=ITEM)
        assert moto.item(table) == ITEM


# ---- the sandbox's route -------------------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[tuple[str, AwsFaults]]:
    require_contract(spec_path())  # the sandbox checks requests against it
    faults = AwsFaults()
    meta = MetaSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/meta",  # nothing is sent: no webhook goes out
        app_secret="secret",
        phone_number_id="100000000000001",
        waba_id="100000000000002",
        port=0,
        aws_faults=faults,
    )
    with meta:
        yield f"{meta.base_url}/_sandbox/aws-faults", faults


def test_the_sandbox_sets_the_plan_reports_the_counts_and_turns_the_faults_off(
    sandbox: tuple[str, AwsFaults],
) -> None:
    url, faults = sandbox
    # GIVEN a plan refused: not JSON, then a rate over 1
    for bad, named in (("{", "Invalid JSON"), (SOAK_PLAN.replace("0.02", "2"), "rules.0.throttle")):
        refused = httpx.post(url, content=bad)
        assert refused.status_code == 400 and named in refused.json()["error"]
    assert faults.report()["plan"]["rules"] == []  # nothing changed
    assert httpx.post(url, content=SOAK_PLAN).json()["plan"]["seed"] == 7
    # WHEN a plan is set, and a request meets it
    every_put = '{"rules": [{"match": "dynamodb:PutItem", "throttle": 1}]}'
    assert httpx.post(url, content=every_put).status_code == 200
    assert faults.draw("DynamoDB_20120810.PutItem") is not None
    # THEN GET shows the plan and what it injected, and DELETE turns it off with its last counts
    shown = httpx.get(url).json()
    assert shown["plan"]["rules"][0]["match"] == "dynamodb:PutItem"
    assert shown["injected"]["throttle"] == {"dynamodb:PutItem": 1}
    assert httpx.delete(url).json()["totals"]["throttle"] == 1
    assert httpx.get(url).json()["plan"]["rules"] == []
