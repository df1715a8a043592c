"""Small sums the bench parts share: the busiest interval of a series of starts, percentiles."""

from bisect import bisect_right
from itertools import pairwise


def most_in_window(times: list[float], seconds: float = 1.0) -> int:
    """The most of `times` (sorted) inside any interval [t, t + seconds)."""
    return max(
        (i - bisect_right(times, t - seconds, hi=i) for i, t in enumerate(times, 1)), default=0
    )


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def pacing_gaps(
    blocks: list[tuple[list[float], float | None]], interval: float
) -> dict[str, float]:
    """Where a paced sender's starts left time unused, from the drain's dispatch trace.

    `blocks` are each reservation's starts and the next_slot_at it could not fit, in the order
    made. Between two blocks the pace allows `interval`; anything more is idle time. `late`
    is how long after the slot the previous block could not fit the next block began.
    """
    made = [(starts, next_slot) for starts, next_slot in blocks if starts]
    if len(made) < 2:
        return {"blocks": len(made), "idle_share": 0.0, "mean_late_ms": 0.0}
    idle = 0.0
    late: list[float] = []
    for (before, next_slot), (after, _) in pairwise(made):
        idle += max(after[0] - before[-1] - interval, 0.0)
        if next_slot is not None:
            late.append(after[0] - next_slot)
    span = made[-1][0][-1] - made[0][0][0]
    return {
        "blocks": len(made),
        "idle_share": idle / span if span > 0 else 0.0,
        "mean_late_ms": 1000 * sum(late) / len(late) if late else 0.0,
    }
