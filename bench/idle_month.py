"""What a stack with nothing to send pays a month, item by item, from template.yaml (rendered
with its default parameters) and the schedule's tick measured on the honest meter."""

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from bench.meter import Prices

MINUTES_PER_MONTH = 30 * 24 * 60
# Lambda's SQS event source polls an idle queue with five long polls at a time (AWS: "starting
# at five concurrent batches"), each waiting up to 20 s: an estimate, AWS does not publish it.
SQS_POLLERS = 5
SQS_LONG_POLL_SECONDS = 20
LOG_EVENT_OVERHEAD_BYTES = 26  # CloudWatch Logs bills each event's message and 26 bytes


@dataclass(frozen=True)
class Tick:
    """The schedule's tick on an idle stack, as measured."""

    billed_ms: int
    charges: dict[tuple[str, str], float]  # (what, price): units, for one tick
    log_bytes: int  # what the handler wrote (its log lines, its EMF metrics)
    metrics: frozenset[str]  # the custom metrics its EMF lines name


@dataclass(frozen=True)
class IdleRow:
    what: str
    quantity: float
    usd: float


def _truths(template: dict[str, Any]) -> dict[str, bool]:
    from local.template_stack import ACCOUNT_ID, StackResources, conditions

    defaults = {n: str(p.get("Default", "")) for n, p in template["Parameters"].items()}
    return conditions(template, StackResources("postino", "us-east-1", ACCOUNT_ID, defaults))


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The resources of a type that the default parameters create."""
    truths = _truths(template)
    return {
        name: resource.get("Properties", {})
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind and truths.get(resource.get("Condition", ""), True)
    }


def ticks_per_month(template: dict[str, Any]) -> int:
    """The SchedulerFunction's schedule, rate(N minute(s)|hour(s)), as runs a month."""
    events = template["Resources"]["SchedulerFunction"]["Properties"]["Events"]
    (expression,) = [
        e["Properties"]["ScheduleExpression"]
        for e in events.values()
        if e["Type"] in ("Schedule", "ScheduleV2")
    ]
    found = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    if found is None:
        raise ValueError(f"not a rate the bench reads: {expression}")
    minutes = int(found[1]) * {"minute": 1, "hour": 60, "day": 1440}[found[2]]
    return MINUTES_PER_MONTH // minutes


def alarm_metrics(template: dict[str, Any]) -> dict[str, tuple[int, bool]]:
    """Each alarm's billed metrics (a metric-math alarm: each metric in it) and whether it is
    high-resolution (a period under a minute)."""
    alarms = {}
    for name, spec in _resources(template, "AWS::CloudWatch::Alarm").items():
        metrics = [m for m in spec.get("Metrics", []) if "MetricStat" in m] or [spec]
        periods = [int(m.get("Period", m.get("MetricStat", {}).get("Period", 60))) for m in metrics]
        alarms[name] = (len(metrics), min(periods) < 60)
    return alarms


def function_secrets(template: dict[str, Any]) -> set[str]:
    """The parameters naming a secret the functions read: in a function's (or its role's)
    GetSecretValue resources, or in its environment as a ...SecretName."""
    functions = _resources(template, "AWS::Serverless::Function")
    roles = [
        template["Resources"][p["Role"]["Fn::GetAtt"][0]]
        for p in functions.values()
        if isinstance(p.get("Role"), dict) and "Fn::GetAtt" in p["Role"]
    ]
    text = json.dumps([template["Globals"]["Function"], *functions.values(), *roles])
    parameters = set(template["Parameters"])
    named = set(re.findall(r"secret:\$\{(\w+)\}(?!\*)", text)) & parameters  # not a prefix
    referenced = {p for p in parameters if p.endswith("SecretName") and f'"Ref": "{p}"' in text}
    return named | referenced


def sqs_pollers(template: dict[str, Any]) -> list[str]:
    """The functions' SQS event sources: Lambda polls each queue, idle or not."""
    return [
        f"{name}.{event}"
        for name, spec in _resources(template, "AWS::Serverless::Function").items()
        for event, e in spec.get("Events", {}).items()
        if e["Type"] == "SQS"
    ]


def traced(template: dict[str, Any], function: str) -> bool:
    own = template["Resources"][function]["Properties"].get("Tracing")
    return bool((own or template["Globals"]["Function"].get("Tracing")) == "Active")


def platform_log_bytes(memory_mb: int, billed_ms: int, tracing: bool) -> int:
    """Lambda's own lines for an invocation (START, END, REPORT; XRAY when traced)."""
    request = str(uuid.uuid4())
    lines = [f"START RequestId: {request} Version: $LATEST", f"END RequestId: {request}",
             f"REPORT RequestId: {request}\tDuration: {billed_ms - 0.5:.2f} ms\tBilled Duration: "
             f"{billed_ms} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: 98 MB\t"]  # fmt: skip
    if tracing:
        lines.append(f"XRAY TraceId: 1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}\t"
                     f"SegmentId: {uuid.uuid4().hex[:16]}\tSampled: true")  # fmt: skip
    return sum(len(line.encode()) + LOG_EVENT_OVERHEAD_BYTES for line in lines)


def idle_rows(
    template: dict[str, Any], tick: Tick, prices: Prices, memory_mb: int, gb_price: str
) -> list[IdleRow]:
    """The idle month, itemised. The dashboard is the last row (free within an account's
    first three; off by default, when the row says what it would add)."""
    rows: list[IdleRow] = []

    def add(what: str, quantity: float, *priced: tuple[float, str]) -> None:
        rows.append(IdleRow(what, quantity, sum(q * prices.unit(p) for q, p in priced)))

    ticks = ticks_per_month(template)
    add(f"EventBridge Scheduler: the drain's ticks ({ticks:,} a month)", ticks,
        (ticks, "scheduler_invocations"))  # fmt: skip
    add("Lambda: the ticks' invocations", ticks, (ticks, "lambda_requests"))
    gb_s = ticks * tick.billed_ms / 1000 * memory_mb / 1024
    add(f"Lambda: the ticks' GB-s ({tick.billed_ms} ms billed, {memory_mb} MB)", gb_s,
        (gb_s, gb_price))  # fmt: skip
    for (what, price), units in sorted(tick.charges.items()):
        add(f"the ticks' {what}", ticks * units, (ticks * units, price))
    tracing = traced(template, "SchedulerFunction")
    if tracing:
        add("X-Ray: a trace a tick (Tracing: Active)", ticks, (ticks, "xray_traces_recorded"))
    logged = tick.log_bytes + platform_log_bytes(memory_mb, tick.billed_ms, tracing)
    gb = ticks * logged / 1e9
    add(f"CloudWatch Logs: the ticks' lines ({logged} bytes a tick), GB", gb,
        (gb, "cloudwatch_logs_ingested_gb"))  # fmt: skip
    if tick.metrics:
        add(f"CloudWatch: the tick's custom metrics ({', '.join(sorted(tick.metrics))})",
            len(tick.metrics), (len(tick.metrics), "cloudwatch_custom_metric_month"))  # fmt: skip
    pollers = sqs_pollers(template)
    receives = len(pollers) * SQS_POLLERS * 60 // SQS_LONG_POLL_SECONDS * MINUTES_PER_MONTH
    add(f"SQS: Lambda's long polls of {len(pollers)} idle queues (estimate: {SQS_POLLERS} "
        f"pollers, {SQS_LONG_POLL_SECONDS} s each)", receives, (receives, "sqs_requests"))  # fmt: skip
    alarms = alarm_metrics(template)
    standard = sum(m for m, high in alarms.values() if not high)
    high = sum(m for m, high in alarms.values() if high)
    add(f"CloudWatch: {len(alarms)} alarms ({standard} standard metrics, {high} high-res)",
        standard + high, (standard, "cloudwatch_alarm_metric_month"),
        (high, "cloudwatch_alarm_high_resolution_metric_month"))  # fmt: skip
    secrets = sorted(function_secrets(template))
    add(f"Secrets Manager: {len(secrets)} secrets ({', '.join(secrets)})", len(secrets),
        (len(secrets), "secrets_manager_secret_month"))  # fmt: skip
    dashboards = len(_resources(template, "AWS::CloudWatch::Dashboard"))
    if dashboards:
        add(f"CloudWatch: {dashboards} dashboard(s)", dashboards,
            (dashboards, "cloudwatch_dashboard_month"))  # fmt: skip
    else:
        add(f"CloudWatch: no dashboard (CloudWatchDashboard=true adds one at "
            f"${prices.unit('cloudwatch_dashboard_month'):.2f} a month)", 0)  # fmt: skip
    return rows
