"""Dispatching the messages whose time has come: for each sender, one reservation for the batch,
a send thread for each message with a start, a wait for each without.
"""

from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context

from postino.drain.intake import Intake
from postino.drain.record import Recorder
from postino.drain.send_one import SendOne
from postino.drain.slots import Slots
from postino.drain.state import DispatchTrace, Held, RunState, SenderCache
from postino.observability import logger
from postino.senders.model import Sender
from postino.services import Services


class Dispatch:
    def __init__(
        self,
        services: Services,
        state: RunState,
        senders: SenderCache,
        intake: Intake,
        slots: Slots,
        send_one: SendOne,
        recorder: Recorder,
    ) -> None:
        self.s = services
        self.state = state
        self.senders = senders
        self.intake = intake
        self.slots = slots
        self.send_one = send_one
        self.recorder = recorder

    def start_ready(self, pool: ThreadPoolExecutor) -> None:
        now = self.s.clock.now()
        for name, batch in self.state.take_ready(now).items():
            if batch:
                self._dispatch_sender(pool, name, batch, now)

    def _dispatch_sender(
        self, pool: ThreadPoolExecutor, name: str, batch: list[Held], now: float
    ) -> None:
        sender = self.senders.get(name)
        forced = [h for h in batch if h.ref.forced]
        windowed = [h for h in batch if not h.ref.forced]
        if sender is None or sender.is_paused(now):
            # Paused (or gone) since admission: park (or fail) them as admission would have.
            for held in windowed if sender is not None else batch:
                self.intake.admit(held.delivery)
            if sender is None:
                return
        # The token, if cold, is fetched here: a fetch inside a send thread would cost it its slot.
        # A sender that cannot send at all (a WAHA session not WORKING) pauses before any claim.
        checked_at = self.s.clock.now()
        unavailable = self.s.provider.warm(sender)
        if unavailable is not None:
            sender = self.recorder.pause_unavailable(sender, unavailable, checked_at)
            if sender.is_paused(self.s.clock.now()):
                for held in windowed:
                    self.intake.admit(held.delivery)  # parks each
                windowed = []
        now = self.s.clock.now()
        for held in forced:
            self._start(pool, sender, held, now)
        if not windowed or sender.is_paused(now):
            return
        if self.slots.retired(sender):
            # Held until the run ends, then handed back for the sender's other drainers.
            for held in windowed:
                self.state.hold(held)
            self.state.retired = True
            return
        # One write reserves the sender's slots for the whole batch; each job then takes its
        # recipient's pair slot in its own thread, so those writes overlap.
        plan = self.slots.reserve_sender(sender, len(windowed))
        if self.state.trace is not None:
            self.state.trace.append(
                DispatchTrace(now, sender.name, len(windowed), plan.starts, plan.next_slot_at)
            )
        for held, start in zip(windowed, plan.starts, strict=False):
            self._start(pool, sender, held, start)
        # What did not fit comes back a lead before the next slot: its reservation, made a lead
        # ahead, then lands on that slot, not a lead after it.
        ready_at = plan.next_slot_at - self.slots.lead if plan.next_slot_at else now + 1
        for held in windowed[len(plan.starts) :]:
            self.slots.wait(held, ready_at, now)

    def _start(self, pool: ThreadPoolExecutor, sender: Sender, held: Held, start: float) -> None:
        self.state.started()
        self.s.clock.work_started()
        # The send runs in the drainer's context: its logger keys, and locally the function's
        # own AWS credentials (postino.aws.acting_as).
        future = pool.submit(copy_context().run, self.send_one.send, sender, held, start)
        future.add_done_callback(self._job_done)

    def _job_done(self, future: Future[None]) -> None:
        self.state.finished()
        self.s.clock.work_finished()
        error = future.exception()
        if error is not None:
            # The delivery stays unacknowledged: SQS gives it again, and the claim tells what to do.
            logger.exception("send job failed", exc_info=error)
