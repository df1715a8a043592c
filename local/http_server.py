"""The local servers' HTTP server (threads, and a listen backlog for the drain's bursts), and the
HTTP side of a local front end: the API gateway (local/apigw.py) and a function URL
(local/function_url.py)."""

from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A response: status, headers, body.
Served = tuple[int, dict[str, str], bytes]
# What a front end does with a request: method, target (path and query), headers, body.
Answer = Callable[[str, str, Message, bytes], Served]


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
            status, out_headers, data = answer(self.command, self.path, self.headers, body)
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
