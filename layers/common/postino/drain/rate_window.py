"""The rate window's algorithm, free of storage: a sliding log of reserved start times.

For each limit {max, per_seconds} the log holds the starts reserved in the last
per_seconds. A new send may start at t only if fewer than `max` entries e satisfy
e > t - per_seconds, i.e. at t = max(not_before, max-th most recent entry + per_seconds).

Strictness: every entry is written as t + grace, and the drainer starts the send no later
than t + grace (it gives the slot up otherwise). So every started send s has an entry
e_s >= start_s. Suppose max + 1 sends started inside [a, a + per). Take the one reserved
last, at time t_L < a + per: the other `max` entries were already in the log (reservations
are serialised by the conditional write of the log item) and are all >= a > t_L - per, so
the reservation would have been refused. Hence no interval of per_seconds ever holds more
than max started sends, whatever the number of drainers. "Started" is as the peer sees it
when the grace also covers the trip to the peer. The price of the grace is a throughput of
max / (per + grace): 95 % of 80 msg/s at the default 50 ms.

Pacing: a per-second limit is spent evenly, one start every (per + grace)/max (13.1 ms at
80/s), not in bursts of `max` at one instant. The peer counts by when requests reach it; `max`
requests started at once reach it spread by their own contention, and the tail of one burst
would then share a second with the next. Paced, each request has the road to itself. Longer
windows (an hour, a day) are still free to be used at the per-second pace.

The pace is strict on its own: any max + 1 paced starts span at least per + grace, so the
argument above holds with only the newest entry in the log. A paced limit's log therefore
keeps that one entry: the window item stays a few bytes whatever the rate (at 1,000 msg/s a
full log would be a thousand entries, rewritten on every reservation). Its entries are never
given back (a slot of 1/max is all a missed send would return).
"""

from bisect import insort
from collections.abc import Callable
from dataclasses import dataclass, field

from postino.senders.model import Limit

# How late a send may reach the peer after its reserved time and still be inside its slot.
GRACE_SECONDS = 0.05

# Limits over windows up to this long are paced (see above).
PACED_WINDOW_SECONDS = 1


# A sender with a gap between sends (WAHA) keeps here the earliest time its next send may start.
GAP_KEY = "gap"


def limit_key(limit: Limit) -> str:
    return f"{limit.max}/{limit.per_seconds}"


@dataclass
class Plan:
    starts: list[float]
    # When the next start would be allowed, if we stopped short of `count` because of the window.
    next_slot_at: float | None
    logs: dict[str, list[float]]
    # Of a sender with a gap, per start: the gap's end before it, and the one it set.
    gaps: list[tuple[float | None, float]] = field(default_factory=list)


def is_paced(limit: Limit) -> bool:
    return limit.per_seconds <= PACED_WINDOW_SECONDS


def prune(logs: dict[str, list[float]], limits: list[Limit], now: float) -> dict[str, list[float]]:
    """Keep, for each current limit, only the entries that still block a start at `now`: of a
    paced limit, the newest (see above)."""
    kept = {}
    for limit in limits:
        live = sorted(e for e in logs.get(limit_key(limit), []) if e > now - limit.per_seconds)
        kept[limit_key(limit)] = live[-1:] if is_paced(limit) else live
    gap = [e for e in logs.get(GAP_KEY, []) if e > now]
    return kept | ({GAP_KEY: gap} if gap else {})


def plan_starts(
    logs: dict[str, list[float]],
    limits: list[Limit],
    *,
    count: int,
    now: float,
    not_before: float,
    latest: float,
    grace: float = GRACE_SECONDS,
    gap: Callable[[], float] | None = None,
) -> Plan:
    """Reserve up to `count` starts, each no earlier than `not_before` and no later than `latest`.

    `gap` draws the pause that must follow each start (a random one looks less like a bot).
    """
    logs = prune(logs, limits, now)
    starts: list[float] = []
    gaps: list[tuple[float | None, float]] = []
    next_slot_at: float | None = None
    for _ in range(count):
        start = max([not_before, *logs.get(GAP_KEY, [])])
        for limit in limits:
            log = logs[limit_key(limit)]
            if len(log) >= limit.max:
                start = max(start, log[-limit.max] + limit.per_seconds)
            if log and is_paced(limit):
                start = max(start, log[-1] - grace + (limit.per_seconds + grace) / limit.max)
        if start > latest:
            next_slot_at = start
            break
        starts.append(start)
        for limit in limits:
            insort(logs[limit_key(limit)], start + grace)
        if gap is not None:
            before = max(logs.get(GAP_KEY, []), default=None)
            logs[GAP_KEY] = [start + grace + gap()]
            gaps.append((before, logs[GAP_KEY][0]))
    for limit in limits:
        if is_paced(limit):
            logs[limit_key(limit)] = logs[limit_key(limit)][-1:]
    return Plan(starts=starts, next_slot_at=next_slot_at, logs=logs, gaps=gaps)


def give_back_gap(
    logs: dict[str, list[float]], gap: tuple[float | None, float], now: float
) -> None:
    """Put back the gap's end from before a start that never happened, if no later start has
    set its own since: the next send need not wait a pause after a send that did not occur."""
    before, written = gap
    # Entries travel as milliseconds, rounded up: match within one.
    if not any(0 <= e - written < 0.001 for e in logs.get(GAP_KEY, [])):
        return
    if before is not None and before > now:
        logs[GAP_KEY] = [before]
    else:
        logs.pop(GAP_KEY, None)


def window_usage(log: list[float], limit: Limit, now: float) -> tuple[int, float]:
    """How many slots of a limit are taken at `now`, and when the next one is free."""
    live = sorted(e for e in log if e > now - limit.per_seconds)
    if len(live) < limit.max:
        return len(live), now
    return len(live), live[-limit.max] + limit.per_seconds
