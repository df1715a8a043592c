"""Reserving slots in the rate windows (the sender's, then the pair's), giving back those never
used, and keeping a message without a slot waiting: in hand if soon, back on the queue if not.

How far ahead to reserve (the lead) and when to claim before a start follow this drainer's own
write times: a slow table or a starved CPU makes its send threads wake late.
"""

from contextlib import suppress

from postino.clock import iso
from postino.drain.rate_window import Plan, is_paced, plan_starts
from postino.drain.state import Held, RunState
from postino.drain.targets import shards_for
from postino.messages.model import WAITING, Phase, event
from postino.observability import logger, metrics
from postino.outbox import QueuedRef
from postino.providers.base import OnWire, SlotMissed
from postino.senders.model import Limit, Sender, WahaSender
from postino.services import Services
from postino.store.messages import StaleState
from postino.store.rate_window import (
    Planner,
    RateWindowConflict,
    pair_window_key,
    sender_window_key,
    shard_window_key,
)

# Reserve starts at most this far ahead; a later slot means the message waits.
HORIZON_SECONDS = 0.5
# Waits up to this long (one pair interval and more) stay in the drainer's hands; longer
# ones go back to SQS with a delay.
HOLD_SECONDS = 10.0
# Slots are reserved this far ahead, so the pair reservation and the claim (two writes)
# fit before the start; it adds as much to a message's latency. A drainer whose send threads
# reach their claim too late (a slow pair write, a starved CPU) doubles its lead, up to the
# most, and lets it shrink back while its sends are on time. Only then: a lead of seconds
# leaves as many seconds of slots unused between a reservation and the one before it.
CLAIM_LEAD_SECONDS = 0.2
MAX_CLAIM_LEAD_SECONDS = 3.2
LEAD_SHRINK = 0.98
# A send is claimed this long before its start: the claim writes' smoothed time plus this many
# of their smoothed deviations (as TCP times its retransmissions), so that nearly every claim
# lands before its start, not just the average one. No sooner: a drainer that dies between
# the claim and the send leaves the message unknown.
CLAIM_DEVIATIONS = 4.0
# A claim write slower than this is a retried one, or the start of a slowdown (claimed_in).
SLOW_CLAIM_SECONDS = 0.25
# A claimed send that still misses its slot reserves another this many times, then gives up.
LATE_RETRIES = 3
# A window too busy to write (its conditional write lost eight times in a row) is tried again
# this much later.
CONFLICT_BACKOFF_SECONDS = 0.05


class Slots:
    def __init__(self, services: Services, state: RunState) -> None:
        self.s = services
        self.state = state
        self.grace = services.settings.rate_window_grace_seconds
        self.lead = CLAIM_LEAD_SECONDS
        # How long a claim write takes, smoothed, and how much it varies: when to claim.
        self._claim_seconds = 0.02
        self._claim_deviation = 0.01
        # Of a sender with a gap, per start reserved and not yet used or given back: the gap's
        # end before it and the one it set (to give back with the start: postino.drain.rate_window).
        self._gaps: dict[float, tuple[float | None, float]] = {}

    def reserve_sender(self, sender: Sender, count: int) -> Plan:
        gap = sender.gap_seconds if isinstance(sender, WahaSender) else None
        key, limits = self.sender_window(sender)

        def plan(logs: dict[str, list[float]]) -> Plan:
            # The clock is read here, with the key's lock held: a start planned on a reading
            # taken before the wait for the lock may be past already, and its send thread would
            # wake late, give the slot back and reserve again, slowing the lock further.
            now = self.s.clock.now()
            return plan_starts(
                logs,
                limits,
                count=count,
                now=now,
                not_before=now + self.lead,
                latest=now + self.lead + HORIZON_SECONDS,
                grace=self.grace,
                gap=(lambda: self.s.rng.uniform(gap.min, gap.max)) if gap else None,
            )

        reserved = self._reserve(key, limits, plan)
        if reserved.gaps:
            with self.state.lock:
                now = self.s.clock.now()
                # Starts long past were used or never given back: nothing left to give back.
                self._gaps = {s: g for s, g in self._gaps.items() if s > now - HOLD_SECONDS}
                self._gaps.update(zip(reserved.starts, reserved.gaps, strict=True))
        return reserved

    def sender_window(self, sender: Sender) -> tuple[str, list[Limit]]:
        """The window this drainer reserves the sender's starts in, and its limits.

        The shards of a sender whose every limit is paced each take a share of each limit, in
        a window of their own: no two write the same item, and the shares add up to the limit.
        A sender with an hour or day limit (a count, not a pace) keeps one window that its
        shards share, their writes serialised by its condition.
        """
        shards = shards_for(sender)
        if shards == 1 or not all(is_paced(limit) for limit in sender.limits):
            return sender_window_key(sender.name), sender.limits
        shard = self.state.shard
        shares = [
            Limit(max=max(limit.max // shards + (shard < limit.max % shards), 1),
                  per_seconds=limit.per_seconds)
            for limit in sender.limits
        ]  # fmt: skip
        return shard_window_key(sender.name, shard, shards), shares

    def retired(self, sender: Sender) -> bool:
        """A shard the sender no longer has (its limits lowered since this drainer was woken):
        a share of its own would add to the others'."""
        return self.state.shard >= shards_for(sender)

    def _reserve(self, key: str, limits: list[Limit], planner: Planner) -> Plan:
        """Reserve, or on a window too busy to write (drainers racing on it) no start now: the
        messages wait a moment in hand and try again."""
        now = self.s.clock.now()
        try:
            return self.s.rate_windows.reserve(key, limits, planner, now)
        except RateWindowConflict:
            logger.warning("rate window busy; trying again shortly", extra={"key": key})
            metrics.add_metric(name="RateWindowConflicts", unit="Count", value=1)
            return Plan(starts=[], next_slot_at=now + CONFLICT_BACKOFF_SECONDS, logs={})

    def reserve_pair(self, sender: Sender, ref: QueuedRef, start: float, now: float) -> Plan:
        """The pair slot must be free at the very start the sender's window gave us."""
        limits = [sender.pair_limit]
        return self._reserve(
            pair_window_key(sender.name, ref.pair),
            limits,
            lambda logs: plan_starts(
                logs, limits, count=1, now=now, not_before=start, latest=start, grace=self.grace
            ),
        )

    def release(self, sender: Sender, ref: QueuedRef, start: float, *, pair: bool = True) -> None:
        """Give back the entries reserved for a start that never happened (always safe).

        It keeps a tight limit (one per 6 s to a person, a few an hour) from blocking the retry.
        """
        now = self.s.clock.now()
        entry = start + self.grace
        key, limits = self.sender_window(sender)
        with self.state.lock:
            gap = self._gaps.pop(start, None)
        # Best effort: an entry not given back only runs out with its window.
        with suppress(RateWindowConflict):
            self.s.rate_windows.release(key, limits, entry, now, gap)
            if pair:
                self.s.rate_windows.release(
                    pair_window_key(sender.name, ref.pair), [sender.pair_limit], entry, now
                )

    def claim_ahead(self) -> float:
        """How long before its start a send is claimed."""
        with self.state.lock:
            return self._claim_seconds + CLAIM_DEVIATIONS * self._claim_deviation

    def claimed_in(self, seconds: float) -> None:
        """A claim write took this long."""
        with self.state.lock:
            # A write retried after a throttle or a lost answer (botocore's backoff: a second or
            # more) says nothing of the next one. A sample counts at most this far above the
            # estimate (and never less than a slow write's time): one outlier widens the lead a
            # little, where sends claimed seconds ahead would each be left unknown by a drainer
            # killed then; a lasting slowdown still moves it, step by step.
            ceiling = self._claim_seconds + 2 * CLAIM_DEVIATIONS * self._claim_deviation
            seconds = min(seconds, max(ceiling, SLOW_CLAIM_SECONDS))
            error = seconds - self._claim_seconds
            self._claim_seconds += 0.125 * error
            self._claim_deviation += 0.25 * (abs(error) - self._claim_deviation)

    def reached_claim_late(self, start: float, now: float) -> bool:
        """Less time left before the start than a claim takes: the lead did not cover the
        pair's write and the wait for a thread."""
        with self.state.lock:
            return start - now < self._claim_seconds

    def wait_for_slot(
        self, sender: Sender, ref: QueuedRef, start: float, *, reached_late: bool
    ) -> float | None:
        """Sleep until the slot starts; the start of the slot we are inside, reserving again
        when late (a later one then), or None.

        On None, every entry reserved for this send has been given back.
        """
        clock = self.s.clock
        for attempt in range(LATE_RETRIES):
            clock.sleep(start - clock.now())
            if self.inside(start):
                with self.state.lock:
                    self._gaps.pop(start, None)
                    self.lead = max(CLAIM_LEAD_SECONDS, self.lead * LEAD_SHRINK)
                return start
            retried = self.missed(
                sender, ref, start, reached_late=reached_late, again=attempt + 1 < LATE_RETRIES
            )
            if retried is None:
                return None
            reached_late = True  # the slot reserved again: its writes must fit in the lead
            start = retried
        return None

    def inside(self, start: float) -> bool:
        # Half the grace for us to be late, half for the trip to the peer.
        return self.s.clock.now() <= start + self.grace / 2

    def on_wire(self, start: float) -> OnWire:
        """The check a Cloud API send makes as its first byte is about to leave."""

        def check() -> None:
            if not self.inside(start):
                raise SlotMissed

        return check

    def missed(
        self, sender: Sender, ref: QueuedRef, start: float, *, reached_late: bool, again: bool
    ) -> float | None:
        """A claimed send too late for its slot: give the slot back, and if `again`, the start
        of a fresh one (sender and pair) if one is near. None: it holds no slot."""
        with self.state.lock:
            self.state.report.late_wakeups += 1
            # A longer lead cures a claim reached late; a claim write that took longer than
            # most (already in its deviation) or a thread that overslept, it does not.
            if reached_late:
                self.lead = min(self.lead * 2, MAX_CLAIM_LEAD_SECONDS)
        self.release(sender, ref, start)
        return self._reserve_again(sender, ref) if again else None

    def _reserve_again(self, sender: Sender, ref: QueuedRef) -> float | None:
        """A fresh slot (sender and pair) for a claimed send that missed its own, if one is near."""
        plan = self.reserve_sender(sender, 1)
        if not plan.starts:
            return None
        start = plan.starts[0]
        if self.reserve_pair(sender, ref, start, self.s.clock.now()).starts:
            return start
        self.release(sender, ref, start, pair=False)
        return None

    # ---- no slot yet: wait ------------------------------------------------------------------

    def wait(self, held: Held, until: float, now: float) -> None:
        """Keep a short wait in hand; send a long one back to SQS to come back when due."""
        if until - now <= HOLD_SECONDS:
            held.ready_at = until
            self.state.hold(held)
            return
        self._defer(held, until, now)

    def _defer(self, held: Held, until: float, now: float) -> None:
        ref = held.ref
        # A fresh copy, not a visibility change: waiting must not spend the redrive budget.
        delay = until - now
        self.state.comes_back_at(until)
        self.state.queue.put(
            QueuedRef(**{**ref.__dict__, "visible_at": now + delay, "waiting": True}), delay
        )
        if not ref.waiting:
            # Stale, or already waiting: the new copy will find out and act on it.
            with suppress(StaleState):
                self.s.messages.update(
                    ref.id,
                    statuses=WAITING,
                    now=now,
                    equals={"queue_seq": ref.seq, "rate_limited_until": None},
                    changes={"rate_limited_until": until},
                    events=[event(Phase.RATE_LIMITED, now, next_slot_at=iso(until))],
                )
        self.state.report.deferred += 1
        metrics.add_metric(name="RateLimited", unit="Count", value=1)
        self.state.ack(held.delivery)
