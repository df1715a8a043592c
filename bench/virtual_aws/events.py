"""EventBridge in simulated time: the drain's buffered MessageStatusChanged events (postino/events.py)
take a write's time on the clock and are counted, never sent anywhere."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

from bench.virtual_aws.clock import WRITE, VirtualAws


@contextmanager
def virtual_event_bus(aws: VirtualAws) -> Iterator[list[int]]:
    """While open, every PutEvents request is virtual; yields the entries each request held."""
    requests: list[int] = []

    def put(entries: Sequence[Any]) -> None:
        with aws.request("events:PutEvents", WRITE):
            requests.append(len(entries))

    with mock.patch("postino.events.put", put):
        yield requests
