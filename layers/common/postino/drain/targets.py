"""Who drains what: each sender has drainers of its own, one per shard, each with its own lease.

A sender's messages wait in its own queue (postino/outbox.py), so no sender's backlog, pause or
slow peer holds back another's. A sender faster than one drainer sustains gets several shards:
drainers that take turns on the same queue and reserve their starts in the same rate window
(its conditional write serialises them), so together they never exceed the sender's limit.
"""

import math
from dataclasses import dataclass
from typing import Any

from postino.senders.model import Sender
from postino.services import Services

# Messages a second one drainer carries: the lower of what its send threads carry at Meta's pace
# (bench/virtual_drain.py: 131 with 64 threads, each held through the claim lead, the peer's
# 200 ms and our writes) and what its CPU does at three quarters busy (bench/drain_cpu.py: about
# 7.5 ms a message, so 100 a second take 0.75 of the one vCPU the drain's 1,769 MB give it).
DRAINER_RATE = 100
MAX_SHARDS = 10


@dataclass(frozen=True)
class DrainTarget:
    sender: str
    shard: int = 0

    @property
    def scope(self) -> str:
        """The drainer's lease names this."""
        return f"{self.sender}#{self.shard}"

    def payload(self, *, takeover: bool = False) -> dict[str, Any]:
        """The nudge's event; `takeover`: from the drainer it follows, which still holds the
        lease for a moment (postino/drain/handover.py)."""
        event: dict[str, Any] = {
            "source": "postino.nudge",
            "sender": self.sender,
            "shard": self.shard,
        }
        if takeover:
            event["takeover"] = True
        return event

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> "DrainTarget | None":
        """The target a nudge names; None for the schedule's tick (which wakes the others)."""
        sender = event.get("sender")
        if not isinstance(sender, str) or not sender:
            return None
        shard = event.get("shard", 0)
        return cls(sender, shard if isinstance(shard, int) and 0 <= shard < MAX_SHARDS else 0)


def takeover(event: dict[str, Any]) -> bool:
    """Whether the nudge comes from the drainer this one takes over from."""
    return event.get("takeover") is True


def shards_for(sender: Sender | None) -> int:
    """As many drainers as the sender's fastest per-second limit needs."""
    if sender is None:
        return 1
    rates = [limit.max / limit.per_seconds for limit in sender.limits if limit.per_seconds <= 1]
    return min(MAX_SHARDS, max(1, math.ceil(max(rates, default=1) / DRAINER_RATE)))


def wake(
    services: Services,
    sender_name: str,
    sender: Sender | None = None,
    function_name: str | None = None,
) -> int:
    """Nudge each of the sender's drainers not at work already (one at work finds the messages
    itself). Returns how many were nudged. `function_name`: the drain's own, when it wakes
    drainers itself (the schedule's tick)."""
    sender = sender or services.senders.get(sender_name)
    now = services.clock.now()
    woken = 0
    for shard in range(shards_for(sender)):
        target = DrainTarget(sender_name, shard)
        if not services.lease.is_held(target.scope, now):
            services.nudger.nudge(target, function_name)
            woken += 1
    return woken


def wake_all_with_backlog(
    services: Services, senders: list[Sender], function_name: str | None = None
) -> int:
    """The schedule's tick: wake the drainers of every sender whose queue holds copies."""
    woken = 0
    for sender in senders:
        if services.queues.backlog(sender.name):
            woken += wake(services, sender.name, sender, function_name)
    return woken
