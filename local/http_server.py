"""The local servers' HTTP server (threads, and a listen backlog for the drain's bursts), and the
HTTP side of a local front end: the API gateway (local/apigw.py) and a function URL
(local/function_url.py)."""

import select
import socket
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A response: status, headers, body.
Served = tuple[int, dict[str, str], bytes]
# Whether the request's client has closed its connection (gave up waiting for the answer).
ClientGone = Callable[[], bool]
# What a front end does with a request: method, target (path and query), headers, body, and a
# way to ask whether the client is still there. None: the client has gone, nothing to write.
Answer = Callable[[str, str, Message, bytes, ClientGone], Served | None]


class LocalHttpServer(ThreadingHTTPServer):
    """A drain opens dozens of connections at once; the default backlog of 5 resets some of
    them on a busy machine (a send that reads as an unknown outcome)."""

    request_queue_size = 256
    daemon_threads = True


def request_handler(answer: Answer) -> type[BaseHTTPRequestHandler]:
    """Every method read whole and handed to `answer`; its response written back as is."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            served = answer(
                self.command, self.path, self.headers, body, lambda: closed(self.connection)
            )
            if served is None:
                self.close_connection = True
                return
            status, out_headers, data = served
            self.send_response(status)
            for name, value in out_headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle  # noqa: N815 - http.server names

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the stack prints its own lines."""

    return Handler


def closed(connection: socket.socket) -> bool:
    """Whether the peer closed the connection: readable, with nothing to read. An HTTP client
    sends nothing more while it waits for its answer, so anything readable is the end of it."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
