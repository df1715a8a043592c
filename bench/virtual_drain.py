"""The real drain in virtual time (issue 14): the drain loop, the planner and the rate window as
deployed, on a simulated clock, against AWS and Meta's Cloud API in process (bench/virtual_aws/:
writes 6 ms p50 / 15 ms p99, receives 15 ms, the peer 200 ms).

    .venv/bin/python bench/virtual_drain.py [--scenario 1x80] [--messages N] [--drainers N]

Scenarios, each from a cold start (the whole backlog queued before the first drainer starts),
every message to its own recipient (so the pair limit never binds):

    1x80    one sender limited to 80 msg/s, 5,000 messages
    1x1000  one sender limited to 1,000 msg/s, 5,000 messages
    20x80   twenty senders at 80 msg/s, 1,000 messages each, queued interleaved

As deployed: the schedule's tick wakes a drainer for each shard of every sender with a backlog
(as many shards as postino.drain.targets gives the sender, or `--drainers` of them), each a
real `Drainer` with its lease, in a thread standing for a Lambda process of its own; a run that
ends out of time hands over to a new invocation at once, and ticks a minute apart go on until
every queue is empty. The clock moves only when every piece of work sleeps on it, so CPU costs
no simulated time: this shows the drain's design at AWS's latencies, not whether a Lambda's
CPU keeps up (bench/drain_cpu.py measures that).

Per scenario: the ratio to the limit, (n-1)/(last start - first start) over the limit with
starts timed as the peer's calls begin (bench/drain_pacing.py's figure), per sender and in all;
the most starts in any 1 s; the drain reports' late wakeups and missed slots; AWS requests a
message by operation; the busiest DynamoDB item and index partition. Writes
drain.virtual_ratio_80, drain.virtual_ratio_1000, drain.virtual_ratio_20x80,
drain.max_starts_in_1s_over_limit (the worst over every scenario in drain.virtual),
drain.hottest_key_writes_per_s_at_1000 (an item or an index partition, from 1x1000) and
drain.virtual (each scenario's details) into bench/results.json, keeping every other key; a run
with `--messages` or `--drainers` is an experiment, and writes nothing.
"""

import argparse
import contextlib
import io
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
for entry in (str(ROOT), str(ROOT / "layers" / "common")):
    if entry not in sys.path:
        sys.path.insert(0, entry)
# Read by Powertools at import: the drain's warnings (a late wakeup's) are counted instead.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "postino")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Postino")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from bench.figures import most_in_window  # noqa: E402 - after the path is set
from bench.virtual_aws.cloud_api import PeerSend  # noqa: E402
from bench.virtual_aws.events import virtual_event_bus  # noqa: E402
from bench.virtual_aws.stack import VirtualStack  # noqa: E402
from postino.clock import FakeClock  # noqa: E402
from postino.drain.drainer import Drainer  # noqa: E402
from postino.drain.state import DispatchTrace, DrainReport  # noqa: E402
from postino.drain.targets import MAX_SHARDS, DrainTarget, shards_for  # noqa: E402
from postino.ids import new_message_id  # noqa: E402
from postino.messages.model import Message, Phase, Status, event  # noqa: E402
from postino.queueing import queued_ref  # noqa: E402
from postino.senders.model import CloudApiSender, Limit, Sender  # noqa: E402
from postino.services import Services  # noqa: E402
from postino.settings import Settings  # noqa: E402

VALIDITY_SECONDS = 36_000
SEED = 14
TICK_SECONDS = 60  # the schedule's rate


@dataclass(frozen=True)
class Scenario:
    name: str
    senders: int
    limit: int  # msg/s, each sender
    messages: int  # each sender
    # The results.json key of its ratio to the limit (all senders together).
    key: str | None = None


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("1x80", 1, 80, 5000, "virtual_ratio_80"),
        Scenario("1x1000", 1, 1000, 5000, "virtual_ratio_1000"),
        Scenario("20x80", 20, 80, 1000, "virtual_ratio_20x80"),
    )
}


@cache
def function_timeout() -> int:
    """The drain function's timeout in template.yaml: a run's deadline is this less the margin."""
    from local.template_stack import load_template

    return int(load_template()["Resources"]["SchedulerFunction"]["Properties"]["Timeout"])


# ---- the backlog ------------------------------------------------------------------------------


def sender_names(scenario: Scenario) -> list[str]:
    return [f"s{n:02d}" for n in range(scenario.senders)]


def queue_backlog(stack: VirtualStack, api: Services, scenario: Scenario) -> int:
    """Store and queue every message as the send API does (queued, seq 1), senders interleaved."""
    clock = stack.aws.clock
    names = sender_names(scenario)
    for n in range(scenario.messages * len(names)):
        now = clock.now()
        message = Message(
            id=new_message_id(now),
            sender=names[n % len(names)],
            to=f"+39333{n:07d}",
            type="text",
            content={"body": "Ciao"},
            status=Status.QUEUED,
            created_at=now,
            updated_at=now,
            valid_until=now + VALIDITY_SECONDS,
            validity_seconds=VALIDITY_SECONDS,
            queue_seq=1,
            events=[event(Phase.ACCEPTED, now), event(Phase.QUEUED, now)],
        )
        api.queues.for_sender(message.sender).put(queued_ref(message, 1, now))
        api.messages.create(message)
    return scenario.messages * len(names)


# ---- the drainers -----------------------------------------------------------------------------


class RunClock:
    """The clock as one drain run sees it, which counts the run's own thread as work.

    The Drainer counts its loop and each send job; its thread is work before the loop too (from
    before the thread runs, so time cannot move past a drainer still starting) and after every
    job is done (it hands its copies back and flushes its acks then). Only while it waits for
    its jobs to finish is it not work, as the Drainer counts it.
    """

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counted = 0  # the loop and the send jobs, as the Drainer counts them
        self._own = True  # the thread counted on its own behalf
        clock.work_started()

    def now(self) -> float:
        return self._clock.now()

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)

    def work_started(self) -> None:
        self._clock.work_started()
        with self._lock:
            self._counted += 1
            handed, self._own = self._own, False
        if handed:
            self._clock.work_finished()

    def work_finished(self) -> None:
        with self._lock:
            self._counted -= 1
            taken = self._own = self._counted == 0
        if taken:
            self._clock.work_started()  # before the last unit goes: time cannot move between
        self._clock.work_finished()

    def done(self) -> None:
        """The run has returned: its thread is no longer work."""
        with self._lock:
            own, self._own = self._own, False
        if own:
            self._clock.work_finished()


# A nudge's invocation starts after the asynchronous invoke's queue; one in a new execution
# environment also after Lambda's runtime start and our import and init (make bench's cold
# start: about 0.45 s for the scheduler). Charged in simulated time to every invocation.
INVOKE_SECONDS = 0.05
COLD_START_SECONDS = 0.6


@dataclass
class Runs:
    """What the drain runs of a scenario reported, from every drainer thread."""

    stop_at: float  # simulated: no run starts after this
    settings: Settings
    reports: list[DrainReport] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)  # runs ended by an exception, its type
    # Every reservation of a sender's starts, by every run (RunState.trace).
    planned: list[DispatchTrace] = field(default_factory=list)
    # Each shard's Lambda environments (a Services each), warm across runs and ticks; one
    # running an invocation is busy, and a hand-over's successor then needs another.
    environments: dict[DrainTarget, list[Services]] = field(default_factory=dict)
    busy: set[int] = field(default_factory=set)
    cold_starts: int = 0
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def environment(self, stack: VirtualStack, target: DrainTarget) -> tuple[Services, bool]:
        """An idle environment of the shard's, or a new one (True: its start is cold)."""
        with self.lock:
            known = self.environments.setdefault(target, [])
            for services in known:
                if id(services) not in self.busy:
                    self.busy.add(id(services))
                    return services, False
            self.cold_starts += 1
            services = stack.services(self.settings, SEED + self.cold_starts)
            known.append(services)
            self.busy.add(id(services))
            return services, True

    def release(self, services: Services) -> None:
        with self.lock:
            self.busy.discard(id(services))

    def running(self) -> list[threading.Thread]:
        with self.lock:
            return [thread for thread in self.threads if thread.is_alive()]


def start_invocation(
    stack: VirtualStack, target: DrainTarget, runs: Runs, *, takeover: bool = False
) -> None:
    """A nudge (functions/scheduler/app.py's handler, on the shard): a thread standing for the
    invocation, in an idle environment of the shard's or a cold new one. Its clock counts it as
    work from now, so no simulated time passes before it starts."""
    services, cold = runs.environment(stack, target)
    thread = threading.Thread(
        target=invoke,
        args=(stack, target, services, cold, takeover, RunClock(stack.aws.clock), runs),
        name=f"drain-{target.scope}",
    )
    with runs.lock:
        runs.threads.append(thread)
    thread.start()


def invoke(
    stack: VirtualStack,
    target: DrainTarget,
    services: Services,
    cold: bool,
    takeover: bool,
    clock: RunClock,
    runs: Runs,
) -> None:
    """The drain function on one shard: a run that, with work left near its deadline, starts
    its successor (a takeover, which waits for the lease). A run that raises ends as a failed
    invocation: its copies come back in their time."""
    try:
        clock.sleep(INVOKE_SECONDS + (COLD_START_SECONDS if cold else 0.0))
        drainer = Drainer(replace(services, clock=clock), target)
        drainer.state.trace = runs.planned

        def nudge(successor: bool) -> None:
            if clock.now() < runs.stop_at:
                start_invocation(stack, target, runs, takeover=successor)

        margin = services.settings.drain_margin_seconds
        report = drainer.invoke(
            clock.now() + function_timeout() - margin, takeover=takeover, nudge=nudge
        )
        with runs.lock:
            runs.reports.append(report)
    except Exception as error:  # counted and shown, as a failed invocation
        with runs.lock:
            runs.crashed.append(type(error).__name__)
    finally:
        runs.release(services)
        clock.done()


def start_drainers(stack: VirtualStack, tick: Services, shards: int | None, runs: Runs) -> None:
    """The schedule's tick (postino/drain/targets.py wake_all_with_backlog): a drainer for each
    shard of every sender whose queue holds copies, unless one holds that shard's lease.
    `shards`: per sender, instead of as many as targets.shards_for gives."""
    clock = stack.aws.clock
    clock.work_started()  # the tick's own requests, while the drainers it started are at work
    try:
        for sender in tick.senders.all():
            if not tick.queues.backlog(sender.name):
                continue
            for shard in range(shards or shards_for(sender)):
                target = DrainTarget(sender.name, shard)
                if not tick.lease.is_held(target.scope, clock.now()):
                    start_invocation(stack, target, runs)
    finally:
        clock.work_finished()


def drain_backlog(stack: VirtualStack, settings: Settings, shards: int | None, runs: Runs) -> None:
    """Ticks a minute apart, as the schedule's, each waking drainers, until every queue is empty.
    (The drainers hand over among themselves: a second tick is needed only for copies that come
    back after their drainers ended, e.g. those of a failed run.)"""
    clock = stack.aws.clock
    tick = stack.services(settings, SEED)
    first = clock.now()
    while stack.sqs.holds_copies() and clock.now() < runs.stop_at:
        start_drainers(stack, tick, shards, runs)
        while running := runs.running():  # the drainers, and the successors they start
            for thread in running:
                thread.join()
        # No work under way: the clock moves to the next tick at once.
        clock.sleep(TICK_SECONDS - (clock.now() - first) % TICK_SECONDS)


# ---- one scenario -----------------------------------------------------------------------------


@dataclass
class Outcome:
    scenario: Scenario
    drainers: int
    concurrency: int
    messages: int
    sends: list[PeerSend]  # in the order they began
    runs: Runs
    started: float  # simulated, when the first drainer started
    real_seconds: float
    requests: dict[str, int]
    refused: dict[str, int]  # conditional writes refused, by operation and table
    writes: dict[str, list[float]]
    left: int  # copies still on the queue at the end
    errors: list[str]  # the drain's error log lines (a send job that raised)


def run_scenario(scenario: Scenario, shards: int | None, settings: Settings) -> Outcome:
    clock = FakeClock()
    senders: list[Sender] = [
        CloudApiSender(
            name=name,
            phone_number_id="100000000000001",
            access_token_secret="postino/virtual",  # noqa: S106 - a name, never read
            limits=[Limit(max=scenario.limit, per_seconds=1)],
            enforce_service_window=False,
        )
        for name in sender_names(scenario)
    ]
    stack = VirtualStack.build(clock, senders, seed=SEED)
    messages = queue_backlog(stack, stack.services(settings, SEED), scenario)
    stack.aws.forget()
    started, real = clock.now(), time.perf_counter()
    # Ten times the backlog at the limit, and ten minutes more: a drain that needs longer is broken.
    runs = Runs(started + 10 * scenario.messages / scenario.limit + 600, settings)
    # The drain's metrics (EMF on stdout, every 100 values) and its error lines, kept apart.
    with contextlib.redirect_stdout(io.StringIO()) as printed, virtual_event_bus(stack.aws):
        drain_backlog(stack, settings, shards, runs)
    return Outcome(
        scenario=scenario,
        drainers=sum(len(e) for e in runs.environments.values()),
        concurrency=settings.drain_concurrency,
        messages=messages,
        sends=sorted(stack.peer.sends, key=lambda s: s.at),
        runs=runs,
        started=started,
        real_seconds=time.perf_counter() - real,
        requests=dict(stack.aws.requests),
        refused=dict(stack.aws.refused),
        writes=dict(stack.aws.writes),
        left=sum(queue.copies() for queue in stack.sqs.queues.values()),
        errors=[line for line in printed.getvalue().splitlines() if '"level":"ERROR"' in line],
    )


def ratio(starts: list[float], limit: float) -> float:
    """(n-1)/(last start - first start) over the limit: the steady rate's share of it."""
    return (len(starts) - 1) / (starts[-1] - starts[0]) / limit if len(starts) > 1 else 0.0


def hottest(writes: dict[str, list[float]], seconds: float) -> dict[str, Any] | None:
    if not writes:
        return None
    key, times = max(writes.items(), key=lambda kv: len(kv[1]))
    return {
        "key": key,
        "writes": len(times),
        "per_second": len(times) / seconds,
        "peak_in_1s": most_in_window(sorted(times)),
    }


def summary(outcome: Outcome, grace: float) -> dict[str, Any]:
    """The scenario's figures; raises if a message was lost or sent twice."""
    scenario, sends = outcome.scenario, outcome.sends
    unique = {s.message_id for s in sends}
    if len(sends) != outcome.messages or len(unique) != outcome.messages or outcome.left:
        raise RuntimeError(
            f"{scenario.name}: {outcome.messages} queued, {len(sends)} sends of {len(unique)} "
            f"messages, {outcome.left} copies left, crashed runs {outcome.runs.crashed}"
        )
    by_sender: dict[str, list[float]] = {}
    for send in sends:
        by_sender.setdefault(send.sender, []).append(send.at)
    ratios = sorted(ratio(starts, scenario.limit) for starts in by_sender.values())
    most = max(most_in_window(starts) for starts in by_sender.values())
    # As the rate window planned them: the pace is one start every (1 s + grace) / limit.
    planned: dict[str, list[float]] = {}
    for reservation in outcome.runs.planned:
        planned.setdefault(reservation.sender, []).extend(reservation.starts)
    pace = (1 + grace) / scenario.limit
    closer = sum(
        b - a < pace - 1e-6 for starts in planned.values() for a, b in pairwise(sorted(starts))
    )
    seconds = sends[-1].at - outcome.started
    reports = outcome.runs.reports
    items = {k: v for k, v in outcome.writes.items() if "." not in k.split(" ")[0]}
    partitions = {k: v for k, v in outcome.writes.items() if k not in items}
    return {
        "messages": outcome.messages,
        "senders": scenario.senders,
        "limit_per_sender": scenario.limit,
        "drainers": outcome.drainers,
        "drain_concurrency": outcome.concurrency,
        "simulated_seconds": seconds,
        "real_seconds": outcome.real_seconds,
        "ratio": ratio([s.at for s in sends], scenario.limit * scenario.senders),
        "sender_ratio_min": ratios[0],
        "sender_ratio_median": ratios[len(ratios) // 2],
        "sender_ratio_max": ratios[-1],
        "most_starts_in_1s": most,
        "over_limit_in_1s": max(most - scenario.limit, 0),
        "most_planned_in_1s": max(most_in_window(sorted(p)) for p in planned.values()),
        "planned_closer_than_the_pace": closer,
        "late_wakeups": sum(r.late_wakeups for r in reports),
        "missed_slot": sum(r.missed_slot for r in reports),
        "runs": len(reports) + len(outcome.runs.crashed),
        "handed_over": sum(r.handed_over for r in reports),
        "cold_starts": outcome.runs.cold_starts,
        "crashed_runs": outcome.runs.crashed,
        "errors_logged": len(outcome.errors),
        "first_error": outcome.errors[0][:2000] if outcome.errors else None,
        "requests_per_message": {
            op: n / outcome.messages for op, n in sorted(outcome.requests.items())
        },
        "refused_per_message": {
            what: n / outcome.messages for what, n in sorted(outcome.refused.items())
        },
        "hottest_item": hottest(items, seconds),
        "hottest_index_partition": hottest(partitions, seconds),
    }


def lines(name: str, s: dict[str, Any], grace: float) -> list[str]:
    limit, senders = s["limit_per_sender"], s["senders"]
    each = (
        f"; each sender {s['sender_ratio_min']:.3f} to {s['sender_ratio_max']:.3f} "
        f"(median {s['sender_ratio_median']:.3f})"
        if senders > 1
        else ""
    )
    hot = [
        f"{what} {h['key']}: {h['per_second']:.1f} writes/s, at most {h['peak_in_1s']} in 1 s"
        for what, h in (("item", s["hottest_item"]), ("index", s["hottest_index_partition"]))
        if h is not None
    ]
    return [
        f"{name}: {s['messages']:,} messages, {senders} sender(s) at {limit} msg/s, "
        f"{s['drainers']} drainer(s) of {s['drain_concurrency']} send threads: "
        f"{s['simulated_seconds']:.1f} s simulated, {s['real_seconds']:.1f} s real",
        f"  ratio to the limit {s['ratio']:.3f} of {limit * senders:,} msg/s{each} "
        f"(the grace's ceiling {1 / (1 + grace):.3f})",
        f"  most starts in any 1 s by one sender: {s['most_starts_in_1s']} (limit {limit}), "
        f"{s['most_planned_in_1s']} as planned (the pace allows {math.ceil(limit / (1 + grace))}"
        f"; {s['planned_closer_than_the_pace']} planned closer than it)",
        f"  late wakeups {s['late_wakeups']}, missed slots {s['missed_slot']}; runs {s['runs']} "
        f"({s['handed_over']} handed over, {s['cold_starts']} cold starts, "
        f"{len(s['crashed_runs'])} crashed"
        + (f": {', '.join(sorted(set(s['crashed_runs'])))}" if s["crashed_runs"] else "")
        + f"); errors logged {s['errors_logged']}",
        "  AWS requests a message: "
        + ", ".join(f"{op} {n:.3f}" for op, n in s["requests_per_message"].items()),
        "  conditional writes refused a message: "
        + (", ".join(f"{w} {n:.3f}" for w, n in s["refused_per_message"].items()) or "none"),
        "  busiest DynamoDB " + "; ".join(hot),
    ]


# ---- the bench --------------------------------------------------------------------------------


def write(details: dict[str, dict[str, Any]]) -> None:
    """Merge into the `drain` object of bench/results.json; every other key stays."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    drain = results.setdefault("drain", {})
    virtual = drain.setdefault("virtual", {})
    virtual.update(details)
    for name, figures in details.items():
        key = SCENARIOS[name].key
        if key is not None:
            drain[key] = figures["ratio"]
    drain["max_starts_in_1s_over_limit"] = max(v["over_limit_in_1s"] for v in virtual.values())
    if "1x1000" in details:
        # Issue 14, point 6: the most writes a second on any one DynamoDB item or index
        # partition at 1,000 msg/s (goal: about 300).
        at_1000 = details["1x1000"]
        drain["hottest_key_writes_per_s_at_1000"] = max(
            h["per_second"]
            for h in (at_1000["hottest_item"], at_1000["hottest_index_partition"])
            if h is not None
        )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), help="repeatable; all by default"
    )
    parser.add_argument("--messages", type=int, help="per sender (default: the scenario's)")
    parser.add_argument(
        "--drainers",
        type=int,
        choices=range(1, MAX_SHARDS + 1),
        help="per sender (its shards; default: as many as postino.drain.targets gives it)",
    )
    args = parser.parse_args()
    settings = Settings()
    details = {}
    for name in args.scenario or list(SCENARIOS):
        scenario = SCENARIOS[name]
        if args.messages is not None:
            scenario = replace(scenario, messages=args.messages)
        outcome = run_scenario(scenario, args.drainers, settings)
        details[name] = summary(outcome, settings.rate_window_grace_seconds)
        print("\n".join(lines(name, details[name], settings.rate_window_grace_seconds)), flush=True)
    if args.messages is not None or args.drainers is not None:
        print("\nan experiment (--messages, --drainers): bench/results.json left as it was")
        return
    write(details)
    print(f"\nwrote drain.virtual and its ratios into {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
