"""One drain run: receive, reserve rate-window slots, claim, send, record the outcome.

Threads, not asyncio: every step is a blocking boto3 or httpx call, and a send spends
almost all its time waiting on the network, so a pool of threads overlaps them simply.

The steps are modules of their own: intake (take work), dispatch and slots (reserve slots and
start sends), send_one (claim and send), record (the outcome) and handover. The loop below
strings them together; state holds what they share. Due messages (a pause over, a send_at
near) are put back on their queues by the schedule's tick, not here.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor

from postino.drain.dispatch import Dispatch
from postino.drain.handover import last_look, return_held
from postino.drain.intake import Intake
from postino.drain.record import Recorder
from postino.drain.send_one import SendOne
from postino.drain.slots import Slots
from postino.drain.state import DrainReport, RunState, SenderCache
from postino.drain.targets import DrainTarget
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

    def run(self, deadline: float, *, use_lease: bool = True) -> DrainReport:
        """Drain until the queue is empty or the deadline nears.

        The deadline is the invocation's end less the drain margin (a send started just
        before it must finish inside the invocation).
        """
        clock = self.s.clock
        state = self.state
        state.outbox = self.s.queues.existing(self.target.sender)
        if state.outbox is None:
            return state.report  # nothing was ever queued for this sender
        state.ends_at = deadline + self.s.settings.drain_margin_seconds
        lease_seconds = max(deadline - clock.now(), 1.0)
        scope = self.target.scope
        if use_lease and not self.s.lease.acquire(scope, self.holder, clock.now(), lease_seconds):
            logger.info("another drainer holds the lease", extra={"drain": scope})
            return state.report
        capacity = self.s.settings.drain_concurrency
        try:
            with ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="send") as pool:
                clock.work_started()
                try:
                    self._loop(pool, deadline, use_lease, lease_seconds)
                finally:
                    # Waiting for its send jobs is not the loop's work: a simulated clock
                    # moves on for them while the pool shuts down.
                    clock.work_finished()
        finally:
            clock.work_started()  # handing over is the loop's work again
            try:
                return_held(self.s, state)
                self._flush_acks(force=True)
                if use_lease:
                    self.s.lease.release(scope, self.holder)
            finally:
                clock.work_finished()
        return state.report

    def _loop(
        self, pool: ThreadPoolExecutor, deadline: float, use_lease: bool, lease_seconds: float
    ) -> None:
        clock = self.s.clock
        state = self.state
        capacity = self.s.settings.drain_concurrency
        while clock.now() < deadline:
            deliveries = []
            if state.busy() + 10 <= capacity:
                # Long-poll unless held messages need dispatching soon.
                deliveries = self.intake.receive(wait_seconds=0 if state.held_count() else 1)
            for delivery in deliveries:
                self.intake.admit(delivery)
            self.dispatch.start_ready(pool)
            self._flush_acks()
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
