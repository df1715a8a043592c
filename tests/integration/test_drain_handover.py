"""Handing over at the deadline: the successor starts before it and takes the lease at once."""

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise

import pytest

from local.graph_api_peer import GraphApiPeer
from postino import aws
from postino.drain.drainer import Drainer
from postino.drain.state import DrainReport
from postino.services import Services
from postino.store.lease import DrainLease
from tests.conftest import DRAIN
from tests.integration.test_drain import limit_default_sender, text
from tests.support.events import HttpResult

Api = Callable[..., HttpResult]


def test_the_successor_starts_before_the_deadline_and_drains_while_the_last_sends_finish(
    api: Api, services: Services, peer: GraphApiPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a sender allowed one message in 2 s, three messages, and a peer that takes 2 s:
    # at a deadline 3.2 s away one send is in flight and one message still waits for its slot
    # (slots near 0.2, 2.2 and 4.2 s: a second start a second late still comes before the
    # deadline; a grace of 0.5 s: a send thread woken late on a busy machine keeps its slot)
    limit_default_sender(api, max=1, per_seconds=2)
    for n in range(3):
        assert api("POST", "/v1/messages", text(f"+39 333 000 {n:04d}")).status == 202
    peer.latency = 2.0
    grace = 0.5
    settings = services.settings.model_copy(update={"rate_window_grace_seconds": grace})
    services = replace(services, settings=settings)
    leases: list[tuple[float, str, bool]] = []  # when each acquire was tried, by whom, got it
    acquire = DrainLease.acquire

    def recorded(lease: DrainLease, scope: str, holder: str, now: float, seconds: float) -> bool:
        taken = acquire(lease, scope, holder, now, seconds)
        leases.append((time.monotonic(), holder, taken))
        return taken

    monkeypatch.setattr(DrainLease, "acquire", recorded)
    successor_reports: list[DrainReport] = []
    started: list[float] = []

    def successor() -> None:  # on AWS: a new invocation, in an environment of its own
        started.append(time.monotonic())
        follower = Drainer(services, DRAIN)

        def run() -> None:
            with aws.acting_as("SchedulerFunction"):
                successor_reports.append(follower.run(services.clock.now() + 8, lease_wait=3))

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)

    threads: list[threading.Thread] = []
    first = Drainer(services, DRAIN)
    began = time.monotonic()
    # WHEN the drain runs to its deadline with a successor to start
    report = first.run(services.clock.now() + 3.2, successor=successor)
    returned = time.monotonic()
    for thread in threads:
        thread.join(timeout=15)
    # THEN it started the successor before its deadline, once
    assert report.out_of_time and report.handed_over and report.sent == 2
    assert len(started) == 1 and started[0] - began < 3.2
    # and the successor took the lease before this run's last send had finished
    (follower_holder,) = {holder for _, holder, _ in leases} - {first.holder}
    taken = [at for at, holder, got in leases if holder == follower_holder and got]
    assert taken and taken[0] < returned - 0.3
    # and sent the third message, the sender's pace kept across the two drainers
    (follower,) = successor_reports
    assert follower.sent == 1
    arrivals = sorted(r.received_at for r in peer.sent_messages())
    assert len(arrivals) == 3
    assert all(b - a >= 2.0 - grace for a, b in pairwise(arrivals))


def test_a_takeover_invocation_waits_for_the_lease_and_an_ordinary_one_does_not(
    api: Api, services: Services
) -> None:
    # GIVEN a message, and the drainer's lease held by a run still finishing its sends
    api("POST", "/v1/messages", text())
    holder = "finishing"
    services.lease.acquire(DRAIN.scope, holder, services.clock.now(), 30)
    # WHEN an ordinary nudge's invocation comes: it leaves the work to the holder
    assert Drainer(services, DRAIN).run(services.clock.now() + 5).received == 0

    # and a takeover's comes while the holder lets go within a second
    def let_go() -> None:
        with aws.acting_as("SchedulerFunction"):
            services.lease.release(DRAIN.scope, holder)

    release = threading.Timer(0.8, let_go)
    release.start()
    report = Drainer(services, DRAIN).run(services.clock.now() + 5, lease_wait=3)
    release.join()
    # THEN the takeover waited and drained the queue
    assert report.sent == 1
