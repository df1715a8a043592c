"""What both local peers (Meta's, local/graph_api_peer.py; WAHA's, local/waha_peer/) share on
their HTTP side: the record of a request received, and the faults that are no answer."""

import socket
import struct
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any


@dataclass(frozen=True)
class ReceivedRequest:
    received_at: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    response: Any
    problems: list[str]


def misbehave(handler: BaseHTTPRequestHandler, kind: str, hold_seconds: float) -> bool:
    """A fault that is no answer: hold then close (a timeout), or a TCP reset. True if done."""
    if kind == "timeout":
        time.sleep(hold_seconds)
    elif kind == "reset":
        # SO_LINGER 0: close with a TCP reset, after the whole body was read.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        return False
    handler.close_connection = True
    return True
