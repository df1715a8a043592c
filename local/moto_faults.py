"""Where the AWS faults (local/aws_faults.py) meet moto: its server, and moto in-process.

- `serve_with_faults(server, faults)`: moto's server (the local stack's; every function and
  every drainer process reaches it through AWS_ENDPOINT_URL) answers a throttle or a 500 itself,
  without moto; an applied-then-dropped request is served by moto, then its connection is
  closed without an answer.
- `injected(plan)`: the same for moto in-process (mock_aws), for a block of a test.
"""

import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ConnectionClosedError
from moto.core.botocore_stubber import BotocoreStubber
from moto.server import ThreadedMotoServer

from local.aws_faults import AwsFaults, FaultPlan, operation_of


def serve_with_faults(server: ThreadedMotoServer, faults: AwsFaults) -> None:
    """Wrap a started server's WSGI application (werkzeug reads it afresh for each request)."""
    wsgi_server = server._server  # moto keeps it private; its `app` is werkzeug's public field
    assert wsgi_server is not None, "start the server first"
    wsgi_server.app = with_faults(wsgi_server.app, faults)


def with_faults(app: WSGIApplication, faults: AwsFaults) -> WSGIApplication:
    def faulty(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        fault = faults.draw(environ.get("HTTP_X_AMZ_TARGET"))
        if fault is None:
            return app(environ, start_response)
        if fault.kind == "applied_then_dropped":
            _serve_unheard(app, environ)
            # No answer at all: the client reads the connection's end where a status line
            # should be. Raised as a dropped connection, werkzeug writes nothing and logs nothing.
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError(f"{fault.operation}: applied, then dropped")
        status, headers, body = fault.answer()
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [body]

    return faulty


def _serve_unheard(app: WSGIApplication, environ: WSGIEnvironment) -> None:
    """Let moto serve the request to its end (so it takes effect), its answer thrown away."""

    def unheard(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Callable[[bytes], object]:
        return lambda data: None

    answer = app(environ, unheard)
    try:
        for _ in answer:
            pass
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()


@contextmanager
def injected(plan: FaultPlan) -> Iterator[AwsFaults]:
    """The plan applied to moto in-process (mock_aws) for the block; the faults, for their counts."""
    faults = AwsFaults(plan)
    serve = BotocoreStubber.process_request

    def faulty(self: BotocoreStubber, request: AWSPreparedRequest) -> Any:
        fault = faults.draw(request.headers.get("X-Amz-Target"))
        if fault is None:
            return serve(self, request)
        if fault.kind != "applied_then_dropped":
            return fault.answer()
        serve(self, request)
        # Raised in botocore's before-send event: its endpoint takes it for the connection's
        # failure, and its retry handler sends the request again.
        raise ConnectionClosedError(endpoint_url=request.url)

    BotocoreStubber.process_request = faulty  # type: ignore[method-assign]
    try:
        yield faults
    finally:
        BotocoreStubber.process_request = serve  # type: ignore[method-assign]


@contextmanager
def answers_lost(operation: str, times: int = 1, *, skip: int = 0) -> Iterator[list[str]]:
    """After `skip` of them, the next `times` requests of `operation` ("dynamodb:PutItem") are
    served by moto in-process, and their answers lost: applied-then-dropped made certain, for a
    test of one write. Yields the operations it dropped, as they happen."""
    dropped: list[str] = []
    seen = 0
    serve = BotocoreStubber.process_request

    def losing(self: BotocoreStubber, request: AWSPreparedRequest) -> Any:
        nonlocal seen
        answer = serve(self, request)
        if str(operation_of(request.headers.get("X-Amz-Target"))) == operation:
            seen += 1
            if skip < seen <= skip + times:
                dropped.append(operation)
                raise ConnectionClosedError(endpoint_url=request.url)
        return answer

    BotocoreStubber.process_request = losing  # type: ignore[method-assign]
    try:
        yield dropped
    finally:
        BotocoreStubber.process_request = serve  # type: ignore[method-assign]
