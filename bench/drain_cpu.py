"""The drain's own CPU per message, against a canned AWS (issue 14, point 5: at most 3 ms).

    .venv/bin/python bench/drain_cpu.py [--messages N] [--repeats R] [--limit L] [--profile]

The real Drainer runs here with real botocore and httpx; AWS and Meta's Cloud API are
bench/canned_aws.py (answers recorded from a tiny drain against moto, replayed at once), in a
process of its own, so its CPU is not ours. This process's CPU (every thread: process_time
and getrusage) across each drain run, divided by the messages it sent, is the figure. A first
run of `--warmup` messages is measured apart: it builds the boto3 clients, fetches the token
and opens the connections, as a cold Lambda would. An idle run (nothing queued) gives the
per-run cost that each measured run includes.

`--profile` runs once more under a sampler that charges each thread's CPU (its own CPU clock)
to the stack it is in: cProfile on 3.12 sees every thread's calls through one stack.

Writes `drain.cpu_ms_per_message` and `drain.messages_per_s_per_vcpu` into bench/results.json,
keeping every other key.
"""

import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results.json")
for entry in (str(ROOT), str(ROOT / "layers" / "common")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench.aws_requests import prepare  # noqa: E402 - after the path is set
from bench.canned_aws import SENDER  # noqa: E402
from bench.servers import Child, child  # noqa: E402

GOAL_MS = 3.0
# Lambda gives a function one vCPU's worth of CPU at 1,769 MB, in proportion below it.
MB_PER_VCPU = 1769
# One run stops here, sent or not (the bench then fails: a figure must cover every message).
RUN_SECONDS = 600


@dataclass
class Run:
    messages: int
    sent: int
    cpu_seconds: float  # time.process_time: every thread of this process
    user_seconds: float  # getrusage(RUSAGE_SELF)
    system_seconds: float
    context_switches: int  # voluntary + involuntary
    wall_seconds: float
    late_wakeups: int
    missed_slot: int
    requests: dict[str, int]  # served by the canned AWS, by operation
    hottest: list[tuple[str, int]]  # the DynamoDB items written most: "table key", writes

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_seconds / max(self.sent, 1) * 1000

    def per_message(self) -> dict[str, float]:
        return {op: n / max(self.sent, 1) for op, n in sorted(self.requests.items())}


def drain(services: Any, canned: Child, messages: int) -> Run:
    """One real drain run (with its lease, as deployed) over `messages` canned messages."""
    from postino.drain.drainer import Drainer
    from postino.drain.targets import DrainTarget

    canned.ask(f"supply {messages}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, wall = time.process_time(), time.perf_counter()
    # Powertools prints its metrics (EMF) to stdout every 100 values, as in Lambda: kept out.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        report = Drainer(services, DrainTarget(SENDER)).run(time.time() + RUN_SECONDS)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    requests = json.loads(canned.ask("counts"))
    hottest = [(item, count) for item, count in json.loads(canned.ask("hottest"))]
    unrecorded = {k: v for k, v in requests.items() if k.startswith("unrecorded")}
    if unrecorded or report.sent != messages:
        raise RuntimeError(f"sent {report.sent} of {messages}; {report}; {requests}")
    return Run(
        messages=messages,
        sent=report.sent,
        cpu_seconds=cpu,
        user_seconds=after.ru_utime - usage.ru_utime,
        system_seconds=after.ru_stime - usage.ru_stime,
        context_switches=after.ru_nvcsw + after.ru_nivcsw - usage.ru_nvcsw - usage.ru_nivcsw,
        wall_seconds=wall,
        late_wakeups=report.late_wakeups,
        missed_slot=report.missed_slot,
        requests=requests,
        hottest=hottest,
    )


# ---- the profile ----------------------------------------------------------------------------


class CpuSampler:
    """Every `interval`, each thread's CPU since the last look, charged to the stack it is in."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.within: dict[str, float] = defaultdict(float)  # by function, with its callees
        self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def __enter__(self) -> "CpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        me = threading.get_ident()
        seen: dict[int, float] = {}
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                try:
                    now = time.clock_gettime(time.pthread_getcpuclockid(ident))
                except OSError:  # the thread ended meanwhile
                    continue
                spent, seen[ident] = now - seen.get(ident, now), now
                if spent <= 0:
                    continue
                self.total += spent
                stack: set[str] = set()
                walker: Any = frame
                while walker is not None:
                    stack.add(_where(walker))
                    walker = walker.f_back
                for name in stack:
                    self.within[name] += spent


def _short(path: str) -> str:
    for marker in ("site-packages/", f"{ROOT}/layers/common/", f"{ROOT}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.rsplit("python3.12/", 1)[-1]


def _where(frame: Any) -> str:
    code = frame.f_code
    return f"{_short(code.co_filename)}:{code.co_firstlineno}({code.co_name})"


def profile_lines(sampler: CpuSampler, sent: int, top: int = 20) -> list[str]:
    # A thread's CPU is charged where the sample finds it: often in the wait that followed the
    # work (a socket read, a sleep), so functions are shown with what they call, not alone.
    # Library internals (botocore, urllib3, http.client) are left out: each step's own line
    # already holds them.
    skip = ("threading.py", "concurrent/futures", "contextvars", "postino/drain/drainer.py",
            "botocore", "urllib3", "http/", "socket", "ssl", "email")  # fmt: skip
    ranked = sorted(sampler.within.items(), key=lambda item: -item[1])
    inclusive = [(n, s) for n, s in ranked if not n.startswith(skip)]
    return [
        f"Profile: {sent} messages, {sampler.total:.2f} s of CPU sampled every "
        f"{sampler.interval * 1000:.0f} ms across the drain's threads (each thread's own CPU "
        "clock, charged to the stack it is in); top functions with what they call",
        f"{'function (with its callees)':<72}{'ms/msg':>9}{'%':>7}",
        *(
            f"{name[-72:]:<72}{s / sent * 1000:>9.3f}{s / sampler.total * 100:>7.1f}"
            for name, s in inclusive[:top]
        ),
        "A thread's CPU lands where the sample finds it, often in the wait after the work (a "
        "socket read): a step's figure may hold some of the step before it.",
    ]


def references(services: Any, url: str, calls: int = 300) -> list[tuple[str, float]]:
    """CPU ms of one call, from one thread, to the same canned endpoint: what a step costs."""
    import httpx

    from postino import aws
    from postino.messages.model import WAITING, Phase, Status, event

    table = services.settings.rate_window_table
    now = time.time()
    client = httpx.Client()
    steps: list[tuple[str, Any]] = [
        ("botocore PutItem, a small item (bare client)",
         lambda: aws.dynamodb().put_item(TableName=table, Item={"key": {"S": "ref"}})),
        ("MessageStore.update: the claim (UpdateItem ALL_NEW, parsed)",
         lambda: services.messages.update(
             f"{int(now * 1000):012x}{0:020x}", statuses=WAITING, now=now,
             equals={"queue_seq": 1}, not_after_validity=now,
             changes={"status": Status.SENDING, "attempts": 1, "claimed_by": "ref"},
             events=[event(Phase.SENDING, now, attempt=1)])),
        ("httpx POST to the Graph API (bare client)",
         lambda: client.post(f"{url}/v23.0/1/messages", json={"to": "393330000000"})),
    ]  # fmt: skip
    result = []
    for name, call in steps:
        call()
        started = time.process_time()
        for _ in range(calls):
            call()
        result.append((name, (time.process_time() - started) / calls * 1000))
    client.close()
    return result


# ---- the measurement --------------------------------------------------------------------------


def scheduler_memory_mb() -> int:
    from local.template_stack import load_template

    template = load_template()
    default = int(template["Globals"]["Function"].get("MemorySize", 128))
    scheduler = template["Resources"]["SchedulerFunction"]["Properties"]
    return int(scheduler.get("MemorySize", default))


def measure(
    messages: int, repeats: int, warmup: int, limit: int, profile: bool
) -> tuple[list[str], dict[str, Any]]:
    # The drain's warnings (a late wakeup's "missed its slot") are counted in the table instead.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    prepare()
    with child(str(limit), module="bench.canned_aws") as canned:
        recorded = json.loads(canned.ask("env"))
        os.environ.update(
            {"AWS_ENDPOINT_URL": canned.url, "AWS_ACCESS_KEY_ID": "canned",
             "AWS_SECRET_ACCESS_KEY": "canned", "AWS_DEFAULT_REGION": "us-east-1"}
        )  # fmt: skip
        from postino.services import Services
        from postino.settings import Settings

        # The recorded stack's tables and queue; the drain's own settings at their defaults;
        # Meta's Cloud API answered by the same canned process.
        tuned = ("rate_window_grace_seconds", "drain_concurrency", "drain_margin_seconds")
        names = {k: v for k, v in recorded["settings"].items() if k not in tuned}
        settings = Settings.model_validate({**names, "graph_api_base_url": canned.url})
        services = Services.build(settings)
        first = drain(services, canned, warmup)
        idle = drain(services, canned, 0)
        runs = [drain(services, canned, messages) for _ in range(repeats)]
        steps = references(services, canned.url)
        sampled: list[str] = []
        if profile:
            with CpuSampler() as sampler:
                profiled = drain(services, canned, messages)
            sampled = profile_lines(sampler, profiled.sent)
    return report(first, idle, runs, settings.drain_concurrency, limit, steps, sampled)


def report(
    first: Run,
    idle: Run,
    runs: list[Run],
    concurrency: int,
    limit: int,
    steps: list[tuple[str, float]],
    sampled: list[str],
) -> tuple[list[str], dict[str, Any]]:
    cpu_ms = statistics.median(r.cpu_ms_per_message for r in runs)
    middle = sorted(runs, key=lambda r: r.cpu_ms_per_message)[len(runs) // 2]
    memory = scheduler_memory_mb()
    per_vcpu = 1000 / cpu_ms
    n = middle.sent
    lines = [
        f"Drain CPU per message, canned AWS: {len(runs)} drain run(s) of {n} messages each "
        "(real Drainer, botocore and httpx; AWS answers recorded from moto and replayed at "
        "once, and Meta's send answered at once, in a process of its own)",
        f"{'run':<44}{'CPU ms/msg':>11}{'user':>7}{'sys':>7}{'wall s':>8}{'msg/s':>8}"
        f"{'late':>6}{'missed':>7}",
    ]
    for i, r in enumerate(runs, 1):
        lines.append(
            f"{f'measured {i}: {r.sent} messages':<44}{r.cpu_ms_per_message:>11.2f}"
            f"{r.user_seconds / r.sent * 1000:>7.2f}{r.system_seconds / r.sent * 1000:>7.2f}"
            f"{r.wall_seconds:>8.1f}{r.sent / r.wall_seconds:>8.0f}{r.late_wakeups:>6}"
            f"{r.missed_slot:>7}"
        )
    lines += [
        f"{f'first run: {first.sent} messages (clients, token)':<44}"
        f"{first.cpu_ms_per_message:>11.2f}{'':>14}{first.wall_seconds:>8.1f}",
        f"{'idle run: nothing queued (ms in all)':<44}{idle.cpu_seconds * 1000:>11.1f}"
        f"{'':>14}{idle.wall_seconds:>8.1f}",
        f"median: {cpu_ms:.2f} ms of CPU a message (goal ≤ {GOAL_MS:g} ms): "
        f"{per_vcpu:.0f} messages/s per vCPU; the scheduler's {memory} MB is "
        f"{memory / MB_PER_VCPU:.2f} vCPU on Lambda: {per_vcpu * memory / MB_PER_VCPU:.0f} "
        "messages/s of CPU",
        f"Each measured run includes the per-run cost of the idle run ({idle.cpu_seconds * 1000:.0f}"
        f" ms: lease, due queries, the empty long polls), {idle.cpu_seconds * 1000 / n:.3f} ms a "
        f"message at {n}; nothing is subtracted. DRAIN_CONCURRENCY={concurrency} (the default), "
        f"one sender limited to {limit} msg/s, every message to its own recipient.",
        "AWS requests per message sent (median run), by operation: "
        + ", ".join(f"{op} {v:.3f}" for op, v in middle.per_message().items()),
        "DynamoDB items written most (median run): "
        + "; ".join(
            f"{item}: {count} writes, {count / n:.3f} a message, "
            f"{count / middle.wall_seconds:.1f}/s at this run's {n / middle.wall_seconds:.0f} msg/s"
            for item, count in middle.hottest
        ),
    ]
    lines += [
        f"{'(reference) CPU of one call, one thread, same endpoint':<62}{'ms each':>9}",
        *(f"{name:<62}{ms:>9.2f}" for name, ms in steps),
    ]
    if sampled:
        lines += ["", *sampled]
    hottest_per_message = middle.hottest[0][1] / n if middle.hottest else 0.0
    figures = {
        "cpu_ms_per_message": cpu_ms,
        # The drain's most written item (the sender's rate window) per message at this limit.
        "hottest_item_writes_per_message": hottest_per_message,
        "messages_per_s_per_vcpu": per_vcpu,
        "cpu": {
            "runs_cpu_ms_per_message": [r.cpu_ms_per_message for r in runs],
            "messages_per_run": n,
            "first_run_cpu_ms_per_message": first.cpu_ms_per_message,
            "first_run_messages": first.sent,
            "idle_run_cpu_ms": idle.cpu_seconds * 1000,
            "requests_per_message": middle.per_message(),
            "scheduler_memory_mb": memory,
            "messages_per_s_at_scheduler_memory": per_vcpu * memory / MB_PER_VCPU,
            "drain_concurrency": concurrency,
            "sender_limit_per_second": limit,
            "late_wakeups_per_run": [r.late_wakeups for r in runs],
            "hottest_items": [
                {
                    "item": item,
                    "writes": count,
                    "per_message": count / n,
                    "per_second": count / middle.wall_seconds,
                }
                for item, count in middle.hottest
            ],
            "reference_cpu_ms": dict(steps),
            "aws": "canned (bench/canned_aws.py)",
        },
    }
    return lines, figures


def write(figures: dict[str, Any]) -> None:
    """Merge into the `drain` object of bench/results.json; every other key stays."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("drain", {}).update(figures)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="per measured run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200, help="the first run's messages")
    parser.add_argument("--limit", type=int, default=80, help="the sender's msg/s (Meta's 80)")
    parser.add_argument("--profile", action="store_true", help="one more run, sampled")
    args = parser.parse_args()
    lines, figures = measure(args.messages, args.repeats, args.warmup, args.limit, args.profile)
    print("\n".join(lines))
    write(figures)
    print(f"\nwrote drain.cpu_ms_per_message and drain.messages_per_s_per_vcpu into "
          f"{RESULTS.relative_to(ROOT)}")  # fmt: skip


if __name__ == "__main__":
    main()
