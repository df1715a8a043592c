"""The bench's ledger: every AWS request counted and billed where moto serves it, and each
handler call's own time.

One hook on moto's botocore stubber (it holds a lock around moto, as tests/conftest.py: DynamoDB
serialises writes to an item, moto does not) counts requests by operation (the requests meter)
and bills them as AWS would (bench/request_costs.py). A handler call's own time is its thread's
CPU less what it spent in the hook (moto and the ledger), plus the round trips it would wait for
on AWS (modeled) and its measured waits on the Graph API peer.
"""

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.dynamodb_units import Item, Table
from bench.request_costs import (
    DYNAMODB_WRITES,
    LATENCY_MS,
    Charge,
    RequestCost,
    dynamodb_write,
    request_cost,
    write_targets,
)


@dataclass
class Call:
    """One handler invocation, as Lambda would bill it."""

    function: str
    event: dict[str, Any]
    thread: int
    wall_s: float = 0.0
    cpu_s: float = 0.0  # its thread's CPU, less the time inside the hook
    hook_cpu_s: float = 0.0
    aws_ms: float = 0.0  # the modeled round trips of its AWS requests
    peer_s: float = 0.0  # its waits on the Graph API peer (HTTP, in this process)
    requests: int = 0

    @property
    def billed_ms(self) -> int:
        return self.billed_ms_at(FULL_VCPU_MB)

    def billed_ms_at(self, memory_mb: int) -> int:
        """Billed at a memory size: its CPU (measured on a whole core here) stretched to the
        function's share of a vCPU (Lambda gives one at 1,769 MB, proportionally less below)."""
        stretch = max(1.0, FULL_VCPU_MB / memory_mb)
        return math.ceil(1000 * self.cpu_s * stretch + self.aws_ms + 1000 * self.peer_s)


# Lambda gives a function one vCPU at 1,769 MB, proportionally less below.
FULL_VCPU_MB = 1769


@dataclass
class Tally:
    """Requests by operation (the requests meter), their billed units (the honest meter), and
    handler calls: their wall durations by function, and each call's own time."""

    requests: Counter[str] = field(default_factory=Counter)
    write_items: Counter[str] = field(default_factory=Counter)
    durations: dict[str, list[float]] = field(default_factory=dict)
    counting: bool = True
    charges: dict[tuple[str, str], float] = field(default_factory=dict)  # (what, price): units
    failed_conditions: Counter[str] = field(default_factory=Counter)
    calls: list[Call] = field(default_factory=list)
    current: Call | None = None

    def timed(self, function: str, call: Callable[[], Any], event: Any = None) -> Any:
        record = Call(function, event if isinstance(event, dict) else {}, threading.get_ident())
        self.calls.append(record)
        outer, self.current = self.current, record
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return call()
        finally:
            record.wall_s = time.perf_counter() - started
            record.cpu_s = time.thread_time() - cpu - record.hook_cpu_s
            self.current = outer
            self.durations.setdefault(function, []).append(record.wall_s)

    def record(self, name: str, items: int, cost: RequestCost, hook_cpu_s: float) -> None:
        self.requests[name] += 1
        self.write_items[name] += items
        for charge in cost.charges:
            key = (charge.what, charge.price)
            self.charges[key] = self.charges.get(key, 0.0) + charge.units
        if cost.failed_condition:
            self.failed_conditions[name] += 1
        call = self.current
        if call is not None:
            call.aws_ms += cost.latency_ms
            call.requests += 1
            if threading.get_ident() == call.thread:
                call.hook_cpu_s += hook_cpu_s

    def note_invoke(self) -> None:
        """A Lambda Invoke the handler made (the drain's nudge, kept by a recording nudger):
        an invocation of the drain function."""
        if self.counting:
            charge = Charge("lambda_requests", 1, "lambda:Invoke")
            self.record("lambda:Invoke", 1, RequestCost(LATENCY_MS["lambda"], [charge]), 0.0)

    def note_peer(self, seconds: float) -> None:
        call = self.current
        if self.counting and call is not None and threading.get_ident() == call.thread:
            call.peer_s += seconds

    def mark(self) -> "Tally":
        """A copy of the counts so far: `since(mark)` is what came after."""
        return Tally(
            Counter(self.requests), Counter(self.write_items),
            {f: list(d) for f, d in self.durations.items()}, self.counting,
            dict(self.charges), Counter(self.failed_conditions), list(self.calls),
        )  # fmt: skip

    def since(self, mark: "Tally") -> "Tally":
        durations = {
            f: d[len(mark.durations.get(f, [])) :]
            for f, d in self.durations.items()
            if len(d) > len(mark.durations.get(f, []))
        }
        return Tally(
            self.requests - mark.requests, self.write_items - mark.write_items, durations,
            self.counting, _minus(self.charges, mark.charges),
            self.failed_conditions - mark.failed_conditions, self.calls[len(mark.calls) :],
        )  # fmt: skip


def _minus(
    a: dict[tuple[str, str], float], b: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    left = {k: v - b.get(k, 0.0) for k, v in a.items()}
    return {k: v for k, v in left.items() if v > 1e-9}


class MotoItems:
    """DynamoDB items as moto holds them, as DynamoDB JSON; tables by their physical names."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.tables: dict[str, Table] = {}

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)

    def get(self, table: str, key: Item) -> dict[str, Any] | None:
        from moto.dynamodb.models import dynamodb_backends

        from local.template_stack import ACCOUNT_ID  # moto's default account

        backend = dynamodb_backends[ACCOUNT_ID][self.region]
        if table not in backend.tables:
            return None
        schema = backend.get_table(table)
        names = [n for n in (schema.hash_key_attr, schema.range_key_attr) if n]
        if any(n not in key for n in names):
            return None
        found = backend.get_item(table, {n: key[n] for n in names})
        attributes: dict[str, Any] | None = found.to_json()["Attributes"] if found else None
        return attributes


def operation(request: Any) -> tuple[str, int]:
    """`service:Action`, and how many items a batched DynamoDB write carries (else 1)."""
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    if target:
        prefix, _, action = target.partition(".")
        service = prefix.split("_")[0].lower().replace("amazonsqs", "sqs")
        service = {"secretsmanager": "secretsmanager", "awsevents": "events"}.get(service, service)
        items = 1
        if action in ("BatchWriteItem", "TransactWriteItems", "BatchGetItem") and request.body:
            body = json.loads(request.body)
            if action == "TransactWriteItems":
                items = 2 * len(body["TransactItems"])  # a transaction costs two units an item
            elif action == "BatchWriteItem":
                items = sum(len(v) for v in body["RequestItems"].values())
            else:
                items = sum(len(v["Keys"]) for v in body["RequestItems"].values())
        return f"{service}:{action}", items
    host = request.url.split("//")[1].split(".")[0]
    if host == "sqs":  # the query protocol: the action is in the form body
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        action = next((p[7:] for p in body.split("&") if p.startswith("Action=")), "?")
        return f"sqs:{action}", 1
    return f"{host}:{request.method}", 1


def _json(raw: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


@contextmanager
def metering(tally: Tally, items: MotoItems) -> Iterator[None]:
    """Count and bill every request moto serves into `tally`, and time the handlers' waits on
    HTTP peers (httpx: the Graph API client)."""
    import httpx
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    serve = BotocoreStubber.process_request
    send = httpx.Client.send

    def metered(self: BotocoreStubber, request: Any) -> Any:
        name, count = operation(request)
        if tally.counting and name == "sqs:ReceiveMessage":
            # A long poll waits in moto: holding the lock, it would hold up every other thread
            # (a drainer's sends behind its own receive), which AWS does not.
            entered = time.thread_time()
            answer = serve(self, request)
            with lock:
                body, parsed = _json(request.body), _json(answer[2] if answer else None)
                cost = request_cost(name, body, parsed, items)
                tally.record(name, count, cost, time.thread_time() - entered)
            return answer
        with lock:
            if not tally.counting:
                return serve(self, request)
            entered = time.thread_time()
            body = _json(request.body)
            service, _, action = name.partition(":")
            targets = write_targets(action, body) if service == "dynamodb" else []
            before = [items.get(t.table, t.key) for t in targets]
            answer = serve(self, request)
            parsed = _json(answer[2]) if answer is not None else {}

            def written() -> list[Charge]:
                after = [items.get(t.table, t.key) for t in targets]
                return dynamodb_write(action, targets, before, after, items)

            writes = written if action in DYNAMODB_WRITES else None
            cost = request_cost(name, body, parsed, items, writes)
            tally.record(name, count, cost, time.thread_time() - entered)
            return answer

    def timed_send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        try:
            return send(self, request, **kwargs)
        finally:
            tally.note_peer(time.perf_counter() - started)

    BotocoreStubber.process_request = metered  # type: ignore[method-assign]
    httpx.Client.send = timed_send  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = serve  # type: ignore[method-assign]
        httpx.Client.send = send  # type: ignore[method-assign]
