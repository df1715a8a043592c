"""Posting page events to every connected dashboard page, and forgetting the pages gone.

At most once, by choice: a post that fails is not retried past its client's one retry
(aws.py). A page that missed an event is still right after its next one for the same item,
and a page that reconnects reads everything afresh through the API.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from postino import aws
from postino.store.live_connections import LiveConnectionStore

# API Gateway bills a WebSocket message per started 32 KB: a post carries as many events as
# fit in one (a frame may hold 128 KB).
FRAME_BYTES = 32 * 1024


@dataclass
class Fanout:
    posted: int = 0  # messages, as API Gateway bills them
    gone: list[str] = field(default_factory=list)
    failed: int = 0


def tell_pages(
    events: list[dict[str, Any]], connections: LiveConnectionStore, endpoint: str, now: float
) -> Fanout:
    done = Fanout()
    if not events:
        return done
    pages = connections.connected(now)
    if not pages:
        return done
    frames = list(frames_of(events))
    client = aws.live_connections(endpoint)
    for connection_id in pages:
        for frame in frames:
            try:
                client.post_to_connection(ConnectionId=connection_id, Data=frame)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "GoneException":
                    connections.remove(connection_id)  # closed without a $disconnect we saw
                    done.gone.append(connection_id)
                    break
                done.failed += 1
                continue
            done.posted += 1
    return done


def frames_of(events: list[dict[str, Any]]) -> Iterator[bytes]:
    """`{"events": [...]}` frames of at most FRAME_BYTES, in order. An event larger than a frame
    alone (a conversation's long last message) goes in a frame of its own."""
    batch: list[bytes] = []
    size = 0
    for event in events:
        encoded = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        if batch and size + len(encoded) + len(batch) + 12 > FRAME_BYTES:
            yield _frame(batch)
            batch, size = [], 0
        batch.append(encoded)
        size += len(encoded)
    if batch:
        yield _frame(batch)


def _frame(events: list[bytes]) -> bytes:
    return b'{"events":[' + b",".join(events) + b"]}"
