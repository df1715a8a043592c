"""Two meters over the same life of messages: today's, which prices requests, and the honest one,
which prices what AWS bills.

The requests meter: one DynamoDB unit per item a request carries, one SQS or EventBridge charge
per request, every HTTP call a REST API request, and Lambda GB-s from handler wall times
measured against moto. The honest meter: DynamoDB units from item sizes and the template's
indexes, SQS per 64 KB, EventBridge per entry, REST only for the template's REST routes, and
Lambda GB-s from each handler's own CPU and modeled AWS round trips (the drain: at its sender's
limit, from its CPU measured against a canned AWS).
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ledger import FULL_VCPU_MB, Call, Tally

PRICES = Path(__file__).with_name("prices.json")
RESULTS = Path(__file__).with_name("results.json")
# The function that serves each handler; memory and architecture come from template.yaml.
FUNCTIONS = {
    "send": "SendFunction",
    "scheduler": "SchedulerFunction",
    "webhook": "WebhookFunction",
    "processor": "WebhookProcessorFunction",
}
PEER_MS = 200.0  # Meta's Graph API answering a send (the bench's peer answers at once)


class Prices:
    def __init__(self, path: Path = PRICES) -> None:
        self.data: dict[str, Any] = json.loads(path.read_text())

    def unit(self, name: str) -> float:
        """Dollars for one unit (a request, a GB-s, a month) of a price in prices.json."""
        price = self.data["prices"][name]
        per = str(price["per"])
        divisor = 1e6 if per.startswith("1M") else 1e4 if per.startswith("10k") else 1.0
        return float(price["usd"]) / divisor

    def fee(self, name: str) -> float | None:
        usd = self.data["platform_fees"][name]["usd_per_message"]
        return None if usd is None else float(usd)


@dataclass(frozen=True)
class StackFacts:
    """What the template says of the functions that bill: memory, architecture, HTTP routes."""

    memory_mb: dict[str, int]
    gb_second_price: dict[str, str]
    rest_routes: tuple[Any, ...]  # local.template_stack.ApiRoute

    @classmethod
    def load(cls) -> "StackFacts":
        from local.template_stack import api_routes, load_template

        template = load_template()
        default = template["Globals"]["Function"]
        memory, price = {}, {}
        for handler, logical in FUNCTIONS.items():
            own = template["Resources"][logical]["Properties"]
            memory[handler] = int(own.get("MemorySize", default.get("MemorySize", 128)))
            arch = (own.get("Architectures") or default.get("Architectures") or ["x86_64"])[0]
            price[handler] = "lambda_gb_second_arm64" if arch == "arm64" else "lambda_gb_second_x86"
        return cls(memory, price, tuple(api_routes(template)))

    def is_rest(self, call: Call) -> bool:
        """Whether API Gateway's REST API served the call: a route of the template's for its
        function (a function URL, or any other trigger, adds nothing to the invocation)."""
        from local.apigw import match_route

        event = call.event
        method = event.get("httpMethod") or event.get("requestContext", {}).get("http", {}).get(
            "method"
        )
        path = event.get("path") or event.get("rawPath")
        if not method or not path:
            return False
        found = match_route(list(self.rest_routes), str(method), str(path))
        return found is not None and found[0].function == FUNCTIONS[call.function]


@dataclass(frozen=True)
class DrainModel:
    """A drainer bills its whole run; at its sender's limit a message costs the longer of its
    CPU (at the function's share of a vCPU) and its slot (1/limit s)."""

    cpu_ms_per_message: float | None  # results.json drain, `make bench-drain-cpu`
    idle_run_cpu_ms: float | None
    limit_per_second: float
    memory_mb: int

    @classmethod
    def load(cls, memory_mb: int) -> "DrainModel":
        from postino.senders.model import CLOUD_API_LIMITS

        drain = json.loads(RESULTS.read_text()).get("drain", {}) if RESULTS.exists() else {}
        limit = min(limit.max / limit.per_seconds for limit in CLOUD_API_LIMITS)
        idle = drain.get("cpu", {}).get("idle_run_cpu_ms")
        return cls(drain.get("cpu_ms_per_message"), idle, limit, memory_mb)

    @property
    def stretch(self) -> float:
        return max(1.0, FULL_VCPU_MB / self.memory_mb)

    @property
    def billed_s_per_message(self) -> float:
        cpu = (self.cpu_ms_per_message or 0.0) * self.stretch / 1000
        return max(cpu, 1.0 / self.limit_per_second)

    def lone_billed_ms(self, aws_ms: float) -> int:
        """One message alone: the run's and the message's CPU, its AWS round trips (the
        drainer's, modeled), and Meta's answer."""
        cpu = ((self.idle_run_cpu_ms or 0.0) + (self.cpu_ms_per_message or 0.0)) * self.stretch
        return math.ceil(cpu + aws_ms + PEER_MS)


@dataclass
class Life:
    """Messages taken through their whole life, and what the ledger saw of it."""

    path: str  # "single" or "batch"
    messages: int
    tally: Tally
    sent: int
    drain_runs: int
    late_wakeups: int


@dataclass(frozen=True)
class Row:
    what: str
    requests: float  # per message, as the requests meter counts
    usd_requests: float  # per million messages
    units: float  # per message, as AWS bills
    usd_honest: float

    def as_json(self) -> dict[str, Any]:
        return {"what": self.what, "requests_per_message": self.requests,
                "usd_per_million_requests": self.usd_requests, "units_per_message": self.units,
                "usd_per_million_honest": self.usd_honest}  # fmt: skip


def _priced(name: str) -> str:
    """The price the requests meter puts a request under."""
    service, _, action = name.partition(":")
    if service == "dynamodb":
        kind = "read" if action in ("GetItem", "Query", "Scan", "BatchGetItem") else "write"
        return f"dynamodb_{kind}_request_units"
    return {"sqs": "sqs_requests", "secretsmanager": "secrets_manager_api_calls",
            "events": "eventbridge_events", "lambda": "lambda_requests"}[service]  # fmt: skip


def handler_calls(tally: Tally, function: str, kind: str | None = None) -> list[Call]:
    """Calls of one function; the scheduler's as "tick" (the schedule's) or "drainer"."""
    calls = [c for c in tally.calls if c.function == function]
    if kind is not None:
        calls = [c for c in calls if ("sender" not in c.event) == (kind == "tick")]
    return calls


def rows(life: Life, facts: StackFacts, prices: Prices, drain: DrainModel) -> list[Row]:
    """Each line of the bill, per message and per million messages, on both meters."""
    n, tally, unit = life.messages, life.tally, prices.unit
    out: list[Row] = []
    honest: dict[str, tuple[float, float]] = {}
    for (what, price), units in tally.charges.items():
        before = honest.get(what, (0.0, 0.0))
        honest[what] = (before[0] + units / n, before[1] + units / n * unit(price) * 1e6)
    for name, count in sorted(tally.requests.items()):
        usd = tally.write_items[name] / n * unit(_priced(name)) * 1e6
        out.append(Row(name, count / n, usd, *honest.pop(name, (0.0, 0.0))))
    out += [Row(what, 0.0, 0.0, *honest[what]) for what in sorted(honest)]

    calls = {f: handler_calls(tally, f) for f in FUNCTIONS}
    http = [c for f in ("send", "webhook") for c in calls[f]]
    rest = [c for c in http if facts.is_rest(c)]
    per_rest = unit("api_gateway_rest_requests") * 1e6
    out.append(Row("apigateway: REST requests", len(http) / n, len(http) / n * per_rest,
                   len(rest) / n, len(rest) / n * per_rest))  # fmt: skip
    invocation = unit("lambda_requests") * 1e6
    for f in sorted(FUNCTIONS):
        # The scheduler's invocations here are the ticks (the idle month's) and drainers woken
        # by a nudge (on the lambda:Invoke row): none more per message.
        billed = 0 if f == "scheduler" else len(calls[f])
        out.append(Row(f"lambda: {f} invocations", len(calls[f]) / n,
                       len(calls[f]) / n * invocation, billed / n, billed / n * invocation))  # fmt: skip
    for f in sorted(FUNCTIONS):
        gb = facts.memory_mb[f] / 1024
        wall = sum(math.ceil(c.wall_s * 1000) / 1000 for c in calls[f]) * gb / n
        if f == "scheduler":
            own = life.sent * drain.billed_s_per_message * gb / n
        else:
            own = sum(c.billed_ms_at(facts.memory_mb[f]) for c in calls[f]) / 1000 * gb / n
        per = unit(facts.gb_second_price[f]) * 1e6
        out.append(Row(f"lambda: {f} GB-s ({facts.memory_mb[f]} MB)", wall, wall * per,
                       own, own * per))  # fmt: skip
    runs = life.drain_runs / n
    out.append(Row("scheduler: drain runs (this batch's)", runs,
                   runs * unit("scheduler_invocations") * 1e6, 0.0, 0.0))  # fmt: skip
    return out


def write_units(tally: Tally, messages: int) -> dict[str, Any]:
    """DynamoDB write units per message: each operation's on its table, each index's by the
    operation that changed it."""
    by_operation: dict[str, float] = {}
    by_index: dict[str, dict[str, float]] = {}
    for (what, price), units in sorted(tally.charges.items()):
        if price != "dynamodb_write_request_units":
            continue
        if what.startswith("index "):
            index, _, operation = what[len("index ") :].partition(" ")
            by_index.setdefault(index, {})[operation.strip("()")] = units / messages
        else:
            by_operation[what] = units / messages
    return {"by_operation": by_operation, "by_index": by_index,
            "failed_conditions_per_message": {k: v / messages
                                              for k, v in tally.failed_conditions.items()}}  # fmt: skip
