"""The user's bus, as the local stack shows it: one line per event put on the embedded AWS's
EventBridge, its detail type and a few fields; no phone number in clear, no message text.

Hooked into moto's EventBridge, not into Postino: every event put is shown, a drainer's run
from outside (python -m local.drain_once) too.
"""

import json
from collections.abc import Callable
from typing import Any

from moto.events.models import EventsBackend

from local.console import say

PutEvents = Callable[[EventsBackend, list[dict[str, Any]]], list[dict[str, Any]]]
# What each detail type's line shows: no text, name or reference, and no provider message id
# (WAHA's holds the phone number).
SHOWN = {
    "MessageReceived": ("sender", "contact", "type", "replied_to"),
    "MessageStatusChanged": ("id", "sender", "status", "error"),
    "ReservationRequested": ("id", "code", "from", "status"),
}
PHONES = ("contact", "from")


def print_bus_events() -> None:
    EventsBackend.put_events = printing(EventsBackend.put_events)  # type: ignore[method-assign,assignment]


def printing(put: PutEvents) -> PutEvents:
    """`put`, saying each event EventBridge took."""

    def put_and_say(backend: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results = put(backend, events)
        for event, result in zip(events, results, strict=False):
            if "EventId" in result:
                say(line(event))
        return results

    return put_and_say


def line(event: dict[str, Any]) -> str:
    detail_type = str(event.get("DetailType"))
    try:
        detail = json.loads(event.get("Detail") or "{}")
    except ValueError:
        detail = {}
    shown = [
        f"{name}={_shown(name, detail[name])}"
        for name in SHOWN.get(detail_type, ())
        if detail.get(name) is not None
    ]
    return f"bus       {detail_type}  {' '.join(shown)}".rstrip()


def _shown(name: str, value: Any) -> str:
    from postino.observability import mask_phone  # the layer is on the path once events flow

    if name in PHONES:
        # A WAHA chat id is the number and a domain: `393331234567@c.us`.
        number, at, domain = str(value).partition("@")
        return mask_phone(number) + at + domain
    if name == "error":
        return str(value.get("code")) if isinstance(value, dict) else "?"
    return str(value)
