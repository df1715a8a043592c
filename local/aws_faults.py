"""Faults between the functions and moto, for the local stack and the tests: AWS as it fails.

Three kinds, each at a rate per service and operation:
- `throttle`: the client gets the service's throttling error (HTTP 400: DynamoDB's
  ThrottlingException, or ProvisionedThroughputExceededException with `"throttle_as"`; SQS's
  RequestThrottled; EventBridge's ThrottlingException); the request never reaches moto;
- `error_500`: the client gets an HTTP 500 (DynamoDB's InternalServerError, SQS's
  InternalFailure, EventBridge's InternalException); the request never reaches moto;
- `applied_then_dropped`: moto serves the request, so it takes effect, and the client gets no
  answer: botocore raises ConnectionClosedError, and its retry sends the same request again
  (a conditional write then fails its own condition).

A plan, as JSON (`POST /_sandbox/aws-faults` on the Meta sandbox, or `POSTINO_AWS_FAULTS` when
the local stack starts):

    {"seed": 7, "rules": [
        {"match": "dynamodb:*", "throttle": 0.02, "error_500": 0.01},
        {"match": "sqs:*", "error_500": 0.01},
        {"match": "writes", "applied_then_dropped": 0.005}]}

`match` is `service:Operation` (`dynamodb:PutItem`), `service:*`, or `writes`: DynamoDB's
PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems; SQS's SendMessage(Batch),
DeleteMessage(Batch), ChangeMessageVisibility(Batch); EventBridge's PutEvents. The services are
`dynamodb`, `sqs` and `events`: the ones that speak AWS JSON and carry an X-Amz-Target header, so
IAM, STS, S3 and Lambda are never faulted. Rates are 0 to 1; a request's rate of a kind is the
sum over the rules it matches (at most 1), and the kinds are drawn in the order above. The draws
come from one generator seeded with `seed`: the same sequence of requests meets the same faults.
Unknown fields, services and operations are refused, naming the problem.

Where it applies (local/moto_faults.py): moto's server, for the local stack and the drainers
it serves from other processes, and moto in-process (mock_aws), for the tests.
"""

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import cache
from random import Random
from typing import Annotated, Any, Literal

import botocore.session
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

Kind = Literal["throttle", "error_500", "applied_then_dropped"]
KINDS: tuple[Kind, ...] = ("throttle", "error_500", "applied_then_dropped")
# Each service's X-Amz-Target prefix and AWS JSON version.
SERVICES = {
    "dynamodb": ("DynamoDB_20120810", "1.0"),
    "sqs": ("AmazonSQS", "1.0"),
    "events": ("AWSEvents", "1.1"),
}
WRITES = {
    "dynamodb": {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"},
    "sqs": {
        "SendMessage",
        "SendMessageBatch",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
    },
    "events": {"PutEvents"},
}
# Each error as AWS sends it: its HTTP status and __type (botocore reads the code after "#").
ERRORS = {
    "ThrottlingException": (400, "com.amazon.coral.availability#ThrottlingException"),
    "ProvisionedThroughputExceededException": (
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    ),
    "InternalServerError": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
    "RequestThrottled": (400, "com.amazonaws.sqs#RequestThrottled"),
    "InternalFailure": (500, "com.amazon.coral.service#InternalFailure"),
    "InternalException": (500, "com.amazonaws.events#InternalException"),
}
# Each service's answer to a throttle and to a 500 (DynamoDB's throttle: a rule's throttle_as).
CODES: dict[str, dict[Kind, str]] = {
    "dynamodb": {"throttle": "ThrottlingException", "error_500": "InternalServerError"},
    "sqs": {"throttle": "RequestThrottled", "error_500": "InternalFailure"},
    "events": {"throttle": "ThrottlingException", "error_500": "InternalException"},
}
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


@dataclass(frozen=True)
class Operation:
    service: str
    name: str

    def __str__(self) -> str:
        return f"{self.service}:{self.name}"


def operation_of(target: str | bytes | None) -> Operation | None:
    """The operation an X-Amz-Target header names, if its service is one that faults apply to."""
    if isinstance(target, bytes):
        target = target.decode()
    prefix, _, name = (target or "").partition(".")
    service = next((s for s, (p, _) in SERVICES.items() if p == prefix), None)
    return Operation(service, name) if service and name else None


@cache
def _operation_names(service: str) -> frozenset[str]:
    return frozenset(botocore.session.get_session().get_service_model(service).operation_names)


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str
    throttle: Rate = 0.0
    error_500: Rate = 0.0
    applied_then_dropped: Rate = 0.0
    # DynamoDB's throttle: its request rate (ThrottlingException) or a table's capacity.
    throttle_as: Literal["ThrottlingException", "ProvisionedThroughputExceededException"] = (
        "ThrottlingException"
    )

    @field_validator("match")
    @classmethod
    def _names_known_operations(cls, match: str) -> str:
        if match == "writes":
            return match
        service, _, name = match.partition(":")
        if service not in SERVICES:
            raise ValueError(f"{match!r}: the service is one of {', '.join(SERVICES)}, or 'writes'")
        if name != "*" and name not in _operation_names(service):
            raise ValueError(f"{match!r}: {service} has no operation {name!r} (or give '*')")
        return match

    def matches(self, operation: Operation) -> bool:
        if self.match == "writes":
            return operation.name in WRITES[operation.service]
        return self.match in (f"{operation.service}:*", str(operation))


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    rules: tuple[FaultRule, ...] = ()


class PlanRefused(ValueError):
    """A plan that is not JSON or not a plan; the message names each problem."""


def parse_plan(raw: str | bytes) -> FaultPlan:
    try:
        return FaultPlan.model_validate_json(raw or b"{}")
    except ValidationError as error:
        raise PlanRefused("; ".join(map(_problem, error.errors()))) from None


def _problem(error: ErrorDetails) -> str:
    at = ".".join(map(str, error["loc"]))
    return f"{at}: {error['msg']}" if at else error["msg"]


@dataclass(frozen=True)
class Fault:
    kind: Kind
    operation: Operation
    # The error code the client gets (none for applied_then_dropped).
    code: str | None

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The service's error in its own protocol (AWS JSON), as botocore parses it."""
        service, code = self.operation.service, str(self.code)
        status, error_type = ERRORS[code]
        headers = {
            "Content-Type": f"application/x-amz-json-{SERVICES[service][1]}",
            "x-amzn-ErrorType": code,
            "x-amzn-RequestId": str(uuid.uuid4()),
        }
        if service == "sqs":  # AWS JSON with awsQueryCompatible: the query protocol's code too
            headers["x-amzn-query-error"] = f"{code};{'Receiver' if status >= 500 else 'Sender'}"
        message = f"{code}: injected by the AWS fault layer ({self.kind}, {self.operation})"
        return status, headers, json.dumps({"__type": error_type, "message": message}).encode()


class AwsFaults:
    """The plan in force, its draws and what it injected; shared by the threads serving AWS."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._random = Random(0)
        self._injected: Counter[tuple[Kind, str]] = Counter()
        self.use(plan or FaultPlan())

    def use(self, plan: FaultPlan) -> dict[str, Any]:
        """Put `plan` in force (an empty one: no faults), its counts from zero; the report of
        the plan it replaces."""
        with self._lock:
            ended = self._report()
            self._plan, self._random, self._injected = plan, Random(plan.seed), Counter()
        return ended

    def draw(self, target: str | bytes | None) -> Fault | None:
        """The fault, if any, for a request with this X-Amz-Target header."""
        operation = operation_of(target)
        if operation is None:
            return None
        with self._lock:
            rules = [rule for rule in self._plan.rules if rule.matches(operation)]
            for kind in KINDS:
                rate = min(sum(getattr(rule, kind) for rule in rules), 1.0)
                if rate and self._random.random() < rate:
                    self._injected[(kind, str(operation))] += 1
                    return Fault(kind, operation, _code(kind, operation, rules))
        return None

    def report(self) -> dict[str, Any]:
        with self._lock:
            return self._report()

    def _report(self) -> dict[str, Any]:
        injected: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        for (kind, operation), count in sorted(self._injected.items()):
            injected[kind][operation] = count
        totals = {kind: sum(by_operation.values()) for kind, by_operation in injected.items()}
        return {"plan": self._plan.model_dump(mode="json"), "injected": injected, "totals": totals}


def _code(kind: Kind, operation: Operation, rules: list[FaultRule]) -> str | None:
    if kind == "applied_then_dropped":
        return None
    if kind == "throttle" and operation.service == "dynamodb":
        return next(rule.throttle_as for rule in rules if rule.throttle)
    return CODES[operation.service][kind]


def sandbox_answer(faults: AwsFaults, method: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """`/_sandbox/aws-faults`: POST a plan (an empty one: off), GET the plan and the counts,
    DELETE to turn the faults off (its answer: the counts of the plan it ended)."""
    if method == "GET":
        return 200, faults.report()
    if method == "DELETE":
        return 200, faults.use(FaultPlan())
    if method != "POST":
        return 405, {"error": f"{method} /_sandbox/aws-faults: use GET, POST or DELETE"}
    try:
        plan = parse_plan(raw)
    except PlanRefused as refused:
        return 400, {"error": f"the plan is refused, nothing changed: {refused}"}
    faults.use(plan)
    return 200, faults.report()
