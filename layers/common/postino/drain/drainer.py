"""One drain run: receive, reserve rate-window slots, claim, send, record the outcome.

Threads, not asyncio: every step is a blocking boto3 or httpx call, and a send spends
almost all its time waiting on the network, so a pool of threads overlaps them simply.

The steps are modules of their own: intake (take work), dispatch and slots (reserve slots and
start sends), send_one (claim and send), record (the outcome) and handover. The loop below
strings them together; state holds what they share. Due messages (a pause over, a send_at
near) are put back on their queues by the schedule's tick, not here.
"""

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from postino.drain.dispatch import Dispatch
from postino.drain.handover import last_look, return_held, take_lease
from postino.drain.intake import Intake
from postino.drain.record import Recorder
from postino.drain.send_one import SendOne
from postino.drain.slots import Slots
from postino.drain.state import DrainReport, RunState, SenderCache
from postino.drain.targets import DrainTarget
from postino.events import put_at_most_once
from postino.observability import logger
from postino.services import Services


class Drainer:
    """Drains one sender's queue (one shard of it: see postino/drain/targets.py)."""

    def __init__(self, services: Services, target: DrainTarget) -> None:
        self.s = services
        self.target = target
        self.holder = uuid.uuid4().hex
        self.state = RunState(shard=target.shard)
        senders = SenderCache(services)
        recorder = Recorder(services, self.state, senders)
        self.intake = Intake(services, self.state, senders, recorder)
        self.slots = Slots(services, self.state)
        send_one = SendOne(services, self.slots, recorder)
        self.dispatch = Dispatch(
            services, self.state, senders, self.intake, self.slots, send_one, recorder
        )

    def run(
        self,
        deadline: float,
        *,
        use_lease: bool = True,
        successor: Callable[[], None] | None = None,
        lease_wait: float = 0.0,
    ) -> DrainReport:
        """Drain until the queue is empty or the deadline nears.

        The deadline is the invocation's end less the drain margin (a send started just
        before it must finish inside the invocation). `successor` starts the next invocation:
        called `drain_handover_seconds` before the deadline while work is left, so that it has
        started (a cold one, too) and waits for the lease (`lease_wait`, its own run's) when
        this run lets go of it at the deadline.
        """
        clock = self.s.clock
        state = self.state
        state.outbox = self.s.queues.existing(self.target.sender)
        if state.outbox is None:
            return state.report  # nothing was ever queued for this sender
        state.ends_at = deadline + self.s.settings.drain_margin_seconds
        lease_seconds = max(deadline - clock.now(), 1.0)
        scope = self.target.scope
        if use_lease and not take_lease(self.s, scope, self.holder, lease_seconds, lease_wait):
            logger.info("another drainer holds the lease", extra={"drain": scope})
            return state.report
        capacity = self.s.settings.drain_concurrency
        try:
            with ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="send") as pool:
                clock.work_started()
                try:
                    self._loop(pool, deadline, use_lease, lease_seconds, successor)
                    if state.report.out_of_time:
                        # Let the successor take over now, not after the sends in flight.
                        self._let_go(use_lease)
                finally:
                    # Waiting for its send jobs is not the loop's work: a simulated clock
                    # moves on for them while the pool shuts down.
                    clock.work_finished()
        finally:
            clock.work_started()  # handing over is the loop's work again
            try:
                self._let_go(use_lease)
            finally:
                clock.work_finished()
        return state.report

    def invoke(
        self, deadline: float, *, takeover: bool, nudge: Callable[[bool], None]
    ) -> DrainReport:
        """One invocation of the drain function on this shard, handing over as deployed.

        With work left near its deadline the run starts its successor (`nudge(True)`: a
        takeover, a new invocation rather than the next minute's tick), which waits for the
        lease as long as this run would have waited for its predecessor's. A run out of time
        without one (shorter than the hand-over's lead) nudges as it ends. An empty queue ends
        a run before its deadline.
        """
        lease_wait = 2 * self.s.settings.drain_handover_seconds if takeover else 0.0
        report = self.run(deadline, successor=lambda: nudge(True), lease_wait=lease_wait)
        if report.out_of_time and not report.handed_over:
            nudge(False)
        return report

    def _let_go(self, use_lease: bool) -> None:
        """What it holds back on the queue, its acks sent, its lease released, its events put
        (each idempotent). The events last: the successor need not wait for them."""
        return_held(self.s, self.state)
        self._flush_acks(force=True)
        if use_lease:
            self.s.lease.release(self.target.scope, self.holder)
        self._flush_events(force=True)

    def _loop(
        self,
        pool: ThreadPoolExecutor,
        deadline: float,
        use_lease: bool,
        lease_seconds: float,
        successor: Callable[[], None] | None,
    ) -> None:
        clock = self.s.clock
        state = self.state
        capacity = self.s.settings.drain_concurrency
        successor_at = deadline - self.s.settings.drain_handover_seconds
        while clock.now() < deadline:
            deliveries = []
            if state.busy() + 10 <= capacity:
                # Long-poll unless held messages need dispatching soon.
                deliveries = self.intake.receive(wait_seconds=0 if state.held_count() else 1)
            for delivery in deliveries:
                self.intake.admit(delivery)
            if (
                successor
                and not state.report.handed_over
                and clock.now() >= successor_at
                and (deliveries or state.held_count())  # work left
            ):
                successor()  # the next invocation starts now, and takes the lease at the deadline
                state.report.handed_over = True
            self.dispatch.start_ready(pool)
            self._flush_acks()
            self._flush_events()
            if state.retired:
                return
            if not deliveries and not state.busy():
                if state.comes_back_before(deadline, clock.now()):
                    continue  # a copy it put back to wait is due: long-poll for it
                if not use_lease or last_look(
                    self.s, self.intake, self.target.scope, self.holder, lease_seconds
                ):
                    return
            elif not deliveries:
                clock.sleep(self._idle_pause())
        # Out of time with work perhaps left: whoever runs the drain hands over.
        state.report.out_of_time = True

    def _idle_pause(self) -> float:
        now = self.s.clock.now()
        soonest = self.state.soonest_ready(default=now + 0.05)
        return min(max(soonest - now, 0.005), 0.25)

    def _flush_acks(self, *, force: bool = False) -> None:
        receipts = self.state.take_acks(force=force)
        if receipts:
            self.state.queue.ack(receipts)

    def _flush_events(self, *, force: bool = False) -> None:
        # At most once, like every event of a state change: buffered after the write, an event
        # is lost if the drainer dies before it is put, and a failed request is not repeated
        # (postino/events.py). The message's state and timeline stay the record of truth.
        if entries := self.state.take_events(force=force):
            put_at_most_once(entries)
