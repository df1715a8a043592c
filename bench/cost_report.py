"""The cost part of `make bench`: both meters for the single and the batch path, what a message
alone costs the drain, and the idle month, as printed lines and as results.json figures."""

import math
from typing import Any

from bench.aws_requests import Lives
from bench.idle_month import MINUTES_PER_MONTH, IdleRow, idle_rows
from bench.meter import (
    DrainModel,
    Life,
    Prices,
    Row,
    StackFacts,
    handler_calls,
    rows,
    write_units,
)
from bench.request_costs import LATENCY_MS

WIDE = 58
FREE_DASHBOARD = "total without the dashboard (an account's first three are free)"


def _table(life: Life, table: list[Row]) -> list[str]:
    title = {"single": "one message a request (POST /v1/messages)",
             "batch": "a hundred a request (POST /v1/messages/batch)"}[life.path]  # fmt: skip
    lines = [
        f"{life.messages} messages, {title}: accept → drain → Graph API peer → "
        "sent/delivered/read webhooks (route + processor)",
        f"{'':<{WIDE}}{'requests meter':>24}{'honest meter':>24}",
        f"{'what':<{WIDE}}{'requests':>10}{'$ per 1M':>14}{'units':>10}{'$ per 1M':>14}",
    ]
    for r in table:
        same = math.isclose(r.requests, r.units) and math.isclose(r.usd_requests, r.usd_honest)
        mark = "" if same else " *"
        lines.append(f"{r.what:<{WIDE}}{r.requests:>10.3f}{r.usd_requests:>14.2f}"
                     f"{r.units:>10.3f}{r.usd_honest:>14.2f}{mark}")  # fmt: skip
    old, new = sum(r.usd_requests for r in table), sum(r.usd_honest for r in table)
    lines.append(
        f"{'total (AWS, free tiers ignored)':<{WIDE}}{'':>10}{old:>14.2f}{'':>10}{new:>14.2f}"
    )
    return lines


def _fees(prices: Prices, honest: float, batch: float) -> list[str]:
    lines = []
    for name, label in (("twilio", "Twilio"), ("gupshup", "Gupshup"),
                        ("aws_end_user_messaging_social", "AWS End User Messaging Social")):  # fmt: skip
        fee = prices.fee(name)
        if fee is None:
            lines.append(f"{label}: its per-message fee is not in prices.json (no figure found; "
                         f"see {prices.data['platform_fees'][name]['source']})")  # fmt: skip
            continue
        lines.append(f"{label} fee ${fee}/message = ${fee * 1e6:,.0f} per 1M: "
                     f"{fee * 1e6 / honest:,.0f}x the single path, {fee * 1e6 / batch:,.0f}x the "
                     "batch path (honest meter)")  # fmt: skip
    return [*lines, "Meta's own per-message fees apply in every case and are in none of these."]


def _requests_schedule(idle: Any, prices: Prices, facts: StackFacts) -> float:
    """The requests meter's month of the schedule alone (as before: the first tick, by wall)."""
    from bench.meter import _priced

    unit = prices.unit
    requests = sum(idle.write_items[k] * unit(_priced(k)) for k in idle.requests)
    walls = idle.durations.get("scheduler", [])
    gb_s = sum(math.ceil(d * 1000) / 1000 for d in walls) * facts.memory_mb["scheduler"] / 1024
    per_run = (unit("scheduler_invocations") + unit("lambda_requests") + requests
               + gb_s * unit(facts.gb_second_price["scheduler"]))  # fmt: skip
    return float(per_run * MINUTES_PER_MONTH)


def _notes(
    lives: Lives, facts: StackFacts, drain: DrainModel, lone: tuple[int, float]
) -> list[str]:
    memory = facts.memory_mb["scheduler"]
    latencies = ", ".join(f"{k} {v:g}" for k, v in LATENCY_MS.items())
    return [
        "* the meters differ. Requests meter: a unit an item a DynamoDB request carries, a charge "
        "a request, every HTTP call on the REST API, handler wall times against moto. Honest: "
        "DynamoDB units from item sizes and the template's indexes, SQS per 64 KB, EventBridge per "
        "entry, REST only for the template's REST routes, Lambda GB-s from the handler's own CPU "
        f"and modeled AWS round trips (ms: {latencies}), the drain at its sender's limit.",
        f"Drain (honest): a message bills max(its CPU {drain.cpu_ms_per_message or 0:.2f} ms x "
        f"{drain.stretch:.2f} at {memory} MB, a 1/{drain.limit_per_second:g} s slot) = "
        f"{drain.billed_s_per_message * 1000:.1f} ms. A message alone: {lone[0]} ms (the run's "
        f"and its CPU, {lives.lone_aws_ms:.0f} ms of AWS round trips with the empty long polls, "
        f"Meta's 200 ms) and its invocation: ${lone[1]:.2f} per 1M messages sent one at a time.",
        f"Drain: single {lives.single.drain_runs} run(s), {lives.single.late_wakeups} late "
        f"wakeup(s); batch {lives.batch.drain_runs} run(s), {lives.batch.late_wakeups} late.",
    ]


def _count(quantity: float) -> str:
    return f"{quantity:,.0f}" if quantity >= 100 else f"{quantity:.3g}"


def _idle_lines(idle: list[IdleRow], prices: Prices, schedule: float) -> list[str]:
    total, dashboard = sum(r.usd for r in idle), idle[-1].usd
    return [
        f"Idle month in $ (nothing sent; the template's default parameters; prices "
        f"{prices.data['as_of']}; [how many a month]):",
        *[f"  {r.usd:>7.2f}  {r.what} [{_count(r.quantity)}]" for r in idle],
        f"  {total:>7.2f}  total",
        *([f"  {total - dashboard:>7.2f}  {FREE_DASHBOARD}"] if dashboard else []),
        f"(requests meter, the schedule alone: ${schedule:.2f}/month)",
    ]


def report(lives: Lives) -> tuple[list[str], dict[str, Any]]:
    """The table's lines and the figures for results.json (`cost` merged at the top)."""
    from local.template_stack import load_template

    facts, prices = StackFacts.load(), Prices()
    drain = DrainModel.load(facts.memory_mb["scheduler"])
    single = rows(lives.single, facts, prices, drain)
    batch = rows(lives.batch, facts, prices, drain)
    honest, batch_honest = sum(r.usd_honest for r in single), sum(r.usd_honest for r in batch)
    gb = facts.memory_mb["scheduler"] / 1024
    gb_price = prices.unit(facts.gb_second_price["scheduler"])
    lone_ms = drain.lone_billed_ms(lives.lone_aws_ms)
    lone_usd = (lone_ms / 1000 * gb * gb_price + prices.unit("lambda_requests")) * 1e6
    idle = idle_rows(
        load_template(), lives.tick, prices, facts.memory_mb["scheduler"],
        facts.gb_second_price["scheduler"],
    )  # fmt: skip
    schedule = _requests_schedule(lives.idle_before, prices, facts)
    lines = [
        *_table(lives.single, single), "", *_table(lives.batch, batch),
        *_notes(lives, facts, drain, (lone_ms, lone_usd)),
        *_fees(prices, honest, batch_honest), "", *_idle_lines(idle, prices, schedule),
    ]  # fmt: skip
    if lives.metrics:
        lines.append(
            f"A month with messages adds {len(lives.metrics)} custom metrics at "
            f"${prices.unit('cloudwatch_custom_metric_month'):.2f} each "
            f"({', '.join(sorted(lives.metrics))})."
        )
    cost = {
        "usd_per_million_honest": honest,
        "usd_per_million_requests": sum(r.usd_requests for r in single),
        "usd_per_million_batch": batch_honest,
        "usd_per_million_batch_requests": sum(r.usd_requests for r in batch),
        "idle_usd_per_month": sum(r.usd for r in idle),
        "idle_usd_per_month_without_dashboard": sum(r.usd for r in idle[:-1]),
        "rows_honest": [r.as_json() for r in single],
        "rows_batch": [r.as_json() for r in batch],
        "idle_rows": [{"what": r.what, "quantity": r.quantity, "usd": r.usd} for r in idle],
        "write_units_per_message": write_units(lives.single.tally, lives.single.messages),
        "write_units_per_message_batch": write_units(lives.batch.tally, lives.batch.messages),
        "drain": {
            "cpu_ms_per_message": drain.cpu_ms_per_message,
            "limit_per_second": drain.limit_per_second,
            "billed_ms_per_message": drain.billed_s_per_message * 1000,
            "usd_per_million_at_limit": drain.billed_s_per_message * gb * gb_price * 1e6,
            "lone_message_billed_ms": lone_ms,
            "lone_message_aws_ms": lives.lone_aws_ms,
            "usd_per_million_lone": lone_usd,
        },
        "idle_tick": {
            "billed_ms": lives.tick.billed_ms,
            "log_bytes": lives.tick.log_bytes,
            "requests": {what: units for (what, _), units in lives.tick.charges.items()},
        },
        "custom_metrics": sorted(lives.metrics),
        "modeled_latency_ms": LATENCY_MS,
        "prices_as_of": prices.data["as_of"],
    }
    return lines, _requests_figures(lives, single, facts, schedule) | {"cost": cost}


def _requests_figures(
    lives: Lives, single: list[Row], facts: StackFacts, schedule: float
) -> dict[str, Any]:
    """The aws_requests figures as the requests meter has always written them."""
    life = lives.single
    tally = life.tally
    calls = {f: handler_calls(tally, f) for f in ("send", "scheduler", "webhook", "processor")}
    old = [r for r in single if r.requests or r.usd_requests]
    return {
        "messages": life.messages,
        "drain_runs": life.drain_runs,
        "late_wakeups": life.late_wakeups,
        "nudges": tally.requests["lambda:Invoke"],
        "requests": dict(tally.requests),
        "handler_calls": {f: len(c) for f, c in calls.items() if c},
        "handler_seconds": {f: sum(x.wall_s for x in c) for f, c in calls.items() if c},
        "memory_mb": facts.memory_mb,
        "rows": [
            {"what": r.what, "per_message": r.requests, "usd_per_million": r.usd_requests}
            for r in old
        ],
        "usd_per_million_total": sum(r.usd_requests for r in single),
        "idle_drain_requests": dict(lives.idle_before.requests),
        "schedule_usd_per_month": schedule,
        "prices_as_of": Prices().data["as_of"],
    }
