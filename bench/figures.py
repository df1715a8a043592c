"""Small sums the bench parts share: the busiest interval of a series of starts, percentiles."""

from bisect import bisect_right


def most_in_window(times: list[float], seconds: float = 1.0) -> int:
    """The most of `times` (sorted) inside any interval [t, t + seconds)."""
    return max(
        (i - bisect_right(times, t - seconds, hi=i) for i, t in enumerate(times, 1)), default=0
    )


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
