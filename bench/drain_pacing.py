"""The drain's pace against moto: one sender at 20 msg/s, the rate moto carries on this machine.

    python bench/drain_pacing.py [--messages 400] [--repeats 3]

Each run queues `messages` (each to its own recipient), then one drain run sends them; starts
are timed at the Graph API peer (200 ms an answer), moto and the peer in processes of their
own (bench/drain_throughput.py's stack). Per run: the steady rate over the limit, the most
starts in any 1 s, late wakeups and missed slots from the drain's report, and from its
dispatch trace the idle share (time between blocks of reserved starts beyond the pace) and
how long after the slot a block could not fit the next block began.

Writes `drain.e2e_ratio_20` (the median run's ratio), `drain.e2e_max_starts_in_1s_over_limit`
and `drain.e2e_pacing_20` (every run) into bench/results.json, keeping every other key.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

from bench.drain_throughput import (  # noqa: E402 - the layer's path first
    REFERENCE_SENDER,
    SENDER_LIMITS,
    remote_stack,
    throughput,
)

RESULTS = ROOT / "bench" / "results.json"


def measure(messages: int, repeats: int) -> tuple[list[str], dict[str, Any]]:
    limit = SENDER_LIMITS[REFERENCE_SENDER]
    runs = []
    with remote_stack() as remote:
        for _ in range(repeats):
            r = throughput(remote, REFERENCE_SENDER, messages)
            runs.append(
                {
                    "ratio": round(r.steady_rate / limit, 3),
                    "most_in_1s": r.most_in_one_second,
                    "late_wakeups": r.late_wakeups,
                    "missed_slot": r.missed_slot,
                    "idle_share": round(r.pacing["idle_share"], 3),
                    "block_late_ms": round(r.pacing["mean_late_ms"], 1),
                    "blocks": r.pacing["blocks"],
                }
            )
    lines = [
        f"Drain pace against moto: {repeats} runs of {messages} messages, one sender at "
        f"{limit} msg/s, Graph API peer answering in 200 ms; starts timed at the peer",
        f"{'run':>4}{'ratio':>7}{'max 1 s':>9}{'late':>6}{'missed':>8}{'idle':>7}"
        f"{'block late ms':>15}{'blocks':>8}",
        *(
            f"{i:>4}{r['ratio']:>7.3f}{r['most_in_1s']:>9}{r['late_wakeups']:>6}"
            f"{r['missed_slot']:>8}{r['idle_share']:>7.3f}{r['block_late_ms']:>15.1f}"
            f"{r['blocks']:>8}"
            for i, r in enumerate(runs, 1)
        ),
        "ratio: (n-1)/(last start - first start) at the peer over the limit (the grace's "
        "ceiling is 1/1.05 = 0.952); idle: the share of the run between blocks of reserved "
        "starts beyond the pace; block late: how long after the slot a reservation could not "
        "fit the next block began (the dispatch trace).",
    ]
    figures = {
        "e2e_ratio_20": statistics.median(r["ratio"] for r in runs),
        # How far over its limit the busiest 1 s at the peer went (0: never over).
        "e2e_max_starts_in_1s_over_limit": max(max(r["most_in_1s"] - limit, 0) for r in runs),
        "e2e_pacing_20": runs,
    }
    return lines, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    lines, figures = measure(args.messages, args.repeats)
    print("\n".join(lines))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("drain", {}).update(figures)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote drain.e2e_ratio_20 into {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
