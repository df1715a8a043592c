"""The Graph API peer's HTTP side: each request stamped when it reached the host, read,
answered by the peer, kept for tests to look at, and written back, or misbehaved with as its
fault says."""

import io
import json
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from local import arrival_stamps
from local.arrival_stamps import StampedReader
from local.graph_api_media import MediaFile
from local.peer_http import ReceivedRequest, misbehave

if TYPE_CHECKING:
    from local.graph_api_peer import GraphApiPeer


def handler_for(peer: "GraphApiPeer") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        stamps: StampedReader | None = None

        def setup(self) -> None:
            super().setup()
            # On the real clock, a request is stamped when it reached the host (see
            # local/arrival_stamps.py); a test's simulated clock is read as it is.
            if peer.clock is time.time and arrival_stamps.SUPPORTED:
                self.stamps = StampedReader(self.connection)
                self.rfile = io.BufferedReader(self.stamps)

        def _handle(self) -> None:
            arrived = self.stamps.arrived() if self.stamps else None
            received_at = arrived or peer.clock()
            peer.enter()
            try:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.stamps:
                    self.stamps.arrived()  # its body's packets: not the next request's arrival
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, response, problems, fault = peer.answer(
                    self.command, self.path, headers, raw
                )
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                peer.record(
                    ReceivedRequest(
                        received_at=received_at,
                        method=self.command,
                        path=self.path,
                        headers={k: v for k, v in self.headers.items()},
                        body=body,
                        status=status,
                        response=response,
                        problems=problems,
                    )
                )
                if peer.latency_for(self.path):
                    time.sleep(peer.latency_for(self.path))
                if fault is not None and misbehave(self, fault.kind, fault.hold_seconds):
                    return
                self._send(status, response)
            finally:
                peer.leave()

        def _send(self, status: int, response: Any) -> None:
            if isinstance(response, MediaFile):
                data, kind = response.data, response.mime_type
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
