"""The rate window table: one item per sender and one per (sender, recipient), each a log.

Each reservation is one conditional UpdateItem on a version number. The drainer keeps the
item it last wrote, so in the common case (one drainer) it writes without reading first:
one request per reservation. When another drainer wrote in between, the failed condition
returns the current item (ReturnValuesOnConditionCheckFailure) and we plan again on it:
still no separate read. Costs per message: one write for its pair, plus one write per
batch of up to ten for its sender.
"""

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import ClientError

from postino import aws
from postino.drain.rate_window import Plan, give_back_gap, is_paced, limit_key, prune
from postino.senders.model import Limit
from postino.store.codec import failed_condition_item, from_item, is_condition_failure, serialise
from postino.store.own_writes import write_once

_CACHE_SIZE = 10_000
_MAX_CONFLICTS = 8

Planner = Callable[[dict[str, list[float]]], Plan]


class RateWindowConflict(Exception):
    """Too many drainers wrote the same window at once; the caller tries again later."""


def sender_window_key(sender: str) -> str:
    return f"sender#{sender}"


def shard_window_key(sender: str, shard: int, shards: int) -> str:
    """One shard's share of a sender's window (postino/drain/slots.py)."""
    return f"sender#{sender}#{shard}/{shards}"


def pair_window_key(sender: str, recipient_hash: str) -> str:
    return f"pair#{sender}#{recipient_hash}"


class RateWindowStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self._known: OrderedDict[str, tuple[int, dict[str, list[float]]]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def reserve(self, key: str, limits: list[Limit], planner: Planner, now: float) -> Plan:
        """Plan on the log as we last knew it and write it back if nobody changed it meanwhile."""
        # Threads of one drainer take turns on a key; other drainers are met by the condition.
        with self._key_lock(key):
            return self._reserve(key, limits, planner, now)

    def _key_lock(self, key: str) -> AbstractContextManager[Any]:
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
                if len(self._key_locks) > _CACHE_SIZE:
                    self._key_locks.pop(next(iter(self._key_locks)))
            return lock

    def _reserve(self, key: str, limits: list[Limit], planner: Planner, now: float) -> Plan:
        for _ in range(_MAX_CONFLICTS):
            version, logs = self._remembered(key)
            plan = planner(logs)
            if not plan.starts:
                return plan
            try:
                self._write(key, version, plan.logs, limits, now)
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                # Another drainer's write (ours, whose answer was lost, counts as written).
                self._remember(key, _parse(failed_condition_item(error)))
                continue
            self._remember(key, (version + 1, plan.logs))
            return plan
        raise RateWindowConflict(key)

    def release(
        self,
        key: str,
        limits: list[Limit],
        entry: float,
        now: float,
        gap: tuple[float | None, float] | None = None,
    ) -> None:
        """Remove one entry, reserved for a send that never started (always safe: it only frees),
        and the gap that start set (`gap`: as Plan.gaps has it)."""
        if gap is None and all(is_paced(limit) for limit in limits):
            return  # nothing to give back (see postino.drain.rate_window), so no write

        def without(logs: dict[str, list[float]]) -> Plan:
            remaining = prune(logs, limits, now)
            # A paced log keeps only its newest entry: removing it would forget the pace.
            for log in (remaining[limit_key(limit)] for limit in limits if not is_paced(limit)):
                # Entries travel as milliseconds, rounded up: match within one.
                match = next((e for e in log if 0 <= e - entry < 0.001), None)
                if match is not None:
                    log.remove(match)
            if gap is not None:
                give_back_gap(remaining, gap, now)
            return Plan(starts=[entry], next_slot_at=None, logs=remaining)

        self.reserve(key, limits, without, now)

    def read(self, key: str, limits: list[Limit], now: float) -> dict[str, list[float]]:
        response = aws.dynamodb().get_item(
            TableName=self.table, Key={"key": serialise(key)}, ConsistentRead=True
        )
        _, logs = _parse(from_item(response["Item"]) if "Item" in response else None)
        return prune(logs, limits, now)

    def _write(
        self, key: str, version: int, logs: dict[str, list[float]], limits: list[Limit], now: float
    ) -> None:
        longest = max(limit.per_seconds for limit in limits)
        newest = max((e for log in logs.values() for e in log), default=now)
        condition: dict[str, Any] = {
            "ConditionExpression": "v = :v",
            "ExpressionAttributeValues": {":v": serialise(version)},
        }
        if version == 0:
            # Unknown to us: either new, or written by another drainer (then we learn it below).
            condition = {
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": "key"},
            }
        item = {
            "key": serialise(key),
            "v": serialise(version + 1),
            # Milliseconds as integers: exact, and shorter than a float's text. Rounded up:
            # an entry read back a little later only keeps a start further away.
            "logs": serialise({k: [math.ceil(e * 1000) for e in log] for k, log in logs.items()}),
            "expires_at": serialise(int(newest + longest + 60)),
        }
        # Without its token, a reservation whose answer was lost would find its own version
        # and plan again: a second slot for the same send, the first never given back.
        write_once(aws.dynamodb().put_item, {"TableName": self.table, "Item": item} | condition)

    def _remembered(self, key: str) -> tuple[int, dict[str, list[float]]]:
        with self._lock:
            return self._known.get(key, (0, {}))

    def _remember(self, key: str, state: tuple[int, dict[str, list[float]]]) -> None:
        with self._lock:
            self._known[key] = state
            self._known.move_to_end(key)
            while len(self._known) > _CACHE_SIZE:
                self._known.popitem(last=False)


def _parse(item: dict[str, Any] | None) -> tuple[int, dict[str, list[float]]]:
    if not item:
        return 0, {}
    logs = {k: [e / 1000 for e in log] for k, log in item.get("logs", {}).items()}
    return int(item.get("v", 0)), logs
