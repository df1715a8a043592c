"""The bench's sums over the drain's dispatch trace."""

from bench.figures import pacing_gaps

PACE = 0.05  # 20 msg/s


def block(first: float, count: int) -> list[float]:
    return [first + i * PACE for i in range(count)]


def test_blocks_that_follow_on_at_the_pace_leave_nothing_idle() -> None:
    blocks = [(block(0.2, 6), 0.5), (block(0.5, 6), 0.8), (block(0.8, 6), None)]
    figures = pacing_gaps(blocks, PACE)
    assert figures["blocks"] == 3
    assert figures["idle_share"] < 1e-9 and abs(figures["mean_late_ms"]) < 1e-6


def test_a_block_that_begins_a_lead_after_the_slot_it_missed_shows_as_idle_and_late() -> None:
    # the first block could not fit a start at 0.5; the next began 200 ms later, at 0.7
    blocks = [(block(0.2, 6), 0.5), ([], 0.7), (block(0.7, 6), None)]
    figures = pacing_gaps(blocks, PACE)
    assert figures["blocks"] == 2 and round(figures["mean_late_ms"]) == 200
    # idle: 0.2 s of a span of 0.75 s (0.2 to 0.95)
    assert round(figures["idle_share"], 3) == round(0.2 / 0.75, 3)
