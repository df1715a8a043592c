"""The fake's HTTP side: each request read, answered by the peer, kept (but the sandbox's own) for
tests to look at, and written back, or misbehaved with as its fault says."""

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.peer_http import ReceivedRequest, misbehave
from local.waha_peer.faults import WahaFault

# (method, path, headers, raw body) -> status, body (JSON, bytes for a PNG, str for HTML),
# the contract's problems with the request, and the fault it met.
Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, Any, list[str], WahaFault | None]]


class ReceivedRequests:
    """The requests the fake received, in the order they came."""

    def __init__(self) -> None:
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()

    def all(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)


def handler_for(answer: Answer, received: ReceivedRequests) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            received_at = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, response, problems, fault = answer(self.command, self.path, headers, raw)
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if not self.path.startswith("/_sandbox/"):
                received.record(
                    ReceivedRequest(
                        received_at=received_at,
                        method=self.command,
                        path=self.path,
                        headers=headers,
                        body=body,
                        status=status,
                        response=response,
                        problems=problems,
                    )
                )
            if fault is not None and misbehave(self, fault.kind, fault.hold_seconds):
                return
            if isinstance(response, bytes):
                data, kind = response, "image/png"
            elif isinstance(response, str):
                data, kind = response.encode(), "text/html"
            else:
                data, kind = json.dumps(response).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `peer.requests` instead."""

    return Handler
