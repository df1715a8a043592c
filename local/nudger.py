"""The drain's nudges kept instead of sent (on AWS, a Lambda Invoke each), and the round of
drains they start: the schedule's tick, then the drainer of each sender it woke."""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

TICK_EVENT = {"source": "postino.schedule", "action": "drain"}


class RecordingNudger:
    def __init__(self) -> None:
        self.targets: list[Any] = []  # postino.drain.targets.DrainTarget, in the order nudged
        # The functions named by whoever nudged: the drain names itself (the tick, a hand-over).
        self.named: list[str] = []
        self.takeovers: list[bool] = []  # whether each nudge came from the drainer it follows

    @property
    def nudges(self) -> int:
        return len(self.targets)

    def nudge(
        self, target: Any, function_name: str | None = None, *, takeover: bool = False
    ) -> None:
        self.targets.append(target)
        self.takeovers.append(takeover)
        if function_name:
            self.named.append(function_name)


Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def drain_round(
    nudger: RecordingNudger,
    invoke: Invoke,
    run_each: Callable[[Invoke, Iterable[dict[str, Any]]], Iterator[dict[str, Any]]] = map,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Invoke the tick, then each drainer it woke (`run_each` as `map`: in turn, or a pool's, at
    once). Returns the tick's answer and the drainers' reports; a hand-over's nudge is left."""
    already = len(nudger.targets)
    tick = invoke(TICK_EVENT)
    woken = nudger.targets[already:]
    return tick, list(run_each(invoke, [target.payload() for target in woken]))
