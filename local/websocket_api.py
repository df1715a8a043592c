"""A local API Gateway WebSocket API in front of one Lambda handler, and its @connections API.

Clients connect to ws://127.0.0.1:PORT/STAGE (wss://<api-id>.execute-api.<region>.amazonaws.com
/<stage> on AWS). API Gateway's rules, as the function and its clients meet them:

- the upgrade request is held until $connect answers: a 2xx statusCode opens the connection,
  any other refuses the handshake with that status and body; a function that raises gets 500;
- every frame is a $default event (route selection on `$request.body.action` is not emulated);
  its answer goes nowhere (no route response), and its failure leaves the socket open;
- when the socket closes, from either side, $disconnect runs once;
- the function answers a client through the management API (its own port here), as
  `apigatewaymanagementapi` with endpoint_url=`management_url`: POST, GET and DELETE on
  /<stage>/@connections/<id>; a connection that is not (or no longer) open is 410 Gone;
- messages over 128 KB are refused both ways (a client's closes its socket with 1009);
- the caller of the management API needs execute-api:ManageConnections on the connection's ARN,
  checked in moto's IAM (local/iam.py) once IAM is enforced.

Not emulated: the 10-minute idle timeout and the 2-hour connection limit, authorizers,
API keys, route responses, and the 32 KB frame limit.
"""

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote, urlsplit

from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import IAMRequest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.sync.server import ServerConnection, serve

from local.apigw import LambdaContext
from local.http_server import ClientGone, LocalHttpServer, Served, request_handler
from local.websocket_events import (
    Peer,
    connect_answer,
    connect_event,
    connection_description,
    disconnect_event,
    gateway_id,
    handshake_refused,
    management_error,
    message_event,
)

Handler = Callable[[dict[str, Any], Any], Any]

MESSAGE_LIMIT = 128 * 1024
ACCOUNT_ID = "123456789012"
# API Gateway's names for what moto's IAM refuses.
_IAM_ERRORS = {
    "AccessDenied": "AccessDeniedException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "InvalidClientTokenId": "UnrecognizedClientException",
}


@dataclass
class Live:
    """An open connection, as the management API finds it."""

    peer: Peer
    socket: ServerConnection
    last_active_at: float


class LocalWebSocketApi:
    def __init__(
        self,
        handler: Handler,
        *,
        api_id: str,
        stage: str,
        region: str = "us-east-1",
        function_name: str = "WebSocketFunction",
        port: int = 0,
        management_port: int = 0,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.handler = handler
        self.api_id, self.stage, self.region = api_id, stage, region
        self.function_name = function_name
        self.on_event = on_event
        # Lambda runs one invocation at a time in an environment: here the function is one.
        self._one_at_a_time = threading.Lock()
        # From $connect's yes; the management API sees a connection once its socket is open.
        self._live: dict[str, Live] = {}
        self._live_lock = threading.Lock()
        self.server = serve(
            self._converse,
            "127.0.0.1",
            port,
            process_request=self._connect,
            process_response=self._forget_unless_open,
            max_size=MESSAGE_LIMIT,
        )
        self.management = LocalHttpServer(
            ("127.0.0.1", management_port), request_handler(self._manage)
        )

    def start(self) -> "LocalWebSocketApi":
        for serve_forever in (self.server.serve_forever, self.management.serve_forever):
            threading.Thread(target=serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Closes every open socket (1001, going away) and waits for their $disconnect."""
        self.server.shutdown()
        self.management.shutdown()
        self.management.server_close()

    @property
    def url(self) -> str:
        port = self.server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/{self.stage}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management.server_address[1]}/{self.stage}"

    def connection_ids(self) -> list[str]:
        with self._live_lock:
            return [id_ for id_, live in self._live.items() if live.socket.state is State.OPEN]

    def _invoke(self, event: dict[str, Any]) -> Any:
        context = LambdaContext(function_name=self.function_name, aws_request_id=str(uuid.uuid4()))
        with self._one_at_a_time:
            return self.handler(event, context)

    def _say(self, what: str, connection_id: str, outcome: object) -> None:
        if self.on_event:
            self.on_event(f"websocket {what} {connection_id[:4]}… → {outcome}")

    def _connect(self, connection: ServerConnection, request: Request) -> Response | None:
        """$connect, while the upgrade request waits: None opens the socket."""
        target = urlsplit(request.path)
        if target.path != f"/{self.stage}":
            return handshake_refused(403, {}, '{"message":"Forbidden"}')
        connected_at, source_ip = int(time.time() * 1000), str(connection.remote_address[0])
        user_agent = request.headers.get("User-Agent")
        peer = Peer(
            self.api_id, self.stage, self.region, gateway_id(), connected_at, source_ip, user_agent
        )
        try:
            result = self._invoke(connect_event(peer, request.headers, target.query))
        except Exception:
            result = {"statusCode": 500, "body": '{"message": "Internal server error"}'}
        status, refusal = connect_answer(result)
        self._say("connect", peer.connection_id, status)
        if refusal is not None:
            return refusal
        with self._live_lock:
            self._live[peer.connection_id] = Live(peer, connection, time.time())
        return None

    def _forget_unless_open(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        """A handshake that fails after $connect's yes (a bad upgrade request) never opens."""
        if response.status_code != 101:
            with self._live_lock:
                self._live = {k: v for k, v in self._live.items() if v.socket is not connection}

    def _converse(self, socket: ServerConnection) -> None:
        """An open connection, on its own thread: each frame to $default, then $disconnect."""
        with self._live_lock:
            live = next(live for live in self._live.values() if live.socket is socket)
        connection_id = live.peer.connection_id
        try:
            closing = self._relay(live)
        finally:
            with self._live_lock:
                del self._live[connection_id]
        code = closing.code if closing else 1006  # no close frame: the TCP connection dropped
        try:
            self._invoke(disconnect_event(live.peer, code, closing.reason if closing else ""))
        except Exception:  # API Gateway's $disconnect is best effort: nobody to tell
            self._say("$disconnect failed", connection_id, code)
        self._say("disconnect", connection_id, code)

    def _relay(self, live: Live) -> Close | None:
        """Frames to $default until the socket closes; the close frame the client sent, if any."""
        while True:
            try:
                frame = live.socket.recv()
            except ConnectionClosed as closed:
                return closed.rcvd
            live.last_active_at = time.time()
            try:
                self._invoke(message_event(live.peer, frame))
            except Exception:
                self._say("$default failed", live.peer.connection_id, "socket kept")

    def _manage(
        self, method: str, target: str, headers: Message, body: bytes, gone: ClientGone
    ) -> Served:
        path = unquote(urlsplit(target).path)  # botocore sends the id's "=" as %3D
        if path == "/_local/connections" and method in ("GET", "DELETE"):
            return self._local_control(method)
        prefix = f"/{self.stage}/@connections/"
        connection_id = path.removeprefix(prefix)
        if not path.startswith(prefix) or method not in ("POST", "GET", "DELETE"):
            return management_error(403, "ForbiddenException", "Forbidden")
        refused = self._refused_by_iam(method, target, headers, body, connection_id)
        if refused is not None:
            return refused
        if method == "POST" and len(body) > MESSAGE_LIMIT:
            return management_error(413, "PayloadTooLargeException", "Message too long")
        with self._live_lock:
            live = self._live.get(connection_id)
        if live is None or live.socket.state is not State.OPEN:  # not yet, or no longer
            served = management_error(410, "GoneException", None)
        else:
            served = self._act(method, live, body)
        self._say(method.lower(), connection_id, served[0])
        return served

    def _local_control(self, method: str) -> Served:
        """Local only, as the sandboxes' /_sandbox routes: the open connections (AWS lists
        none); DELETE drops them all, as API Gateway drops a connection at its limits."""
        ids = self.connection_ids()
        if method == "DELETE":
            with self._live_lock:
                sockets = [self._live[i].socket for i in ids if i in self._live]
            for socket in sockets:
                socket.close(1001)
        return 200, {"Content-Type": "application/json"}, json.dumps(ids).encode()

    def _act(self, method: str, live: Live, body: bytes) -> Served:
        if method == "GET":
            return connection_description(live.peer, live.last_active_at)
        try:
            if method == "DELETE":
                live.socket.close()  # the client's answer to the close frame ends the handshake
                return 204, {}, b""
            try:
                frame: str | bytes = body.decode()  # text when it reads as text, as AWS sends it
            except UnicodeDecodeError:
                frame = body
            live.socket.send(frame)
        except ConnectionClosed:  # closed since it was looked up
            return management_error(410, "GoneException", None)
        live.last_active_at = time.time()
        return 200, {}, b""

    def _refused_by_iam(
        self, method: str, target: str, headers: Message, body: bytes, connection_id: str
    ) -> Served | None:
        """Whether the signed caller may ManageConnections on this connection, as moto's IAM
        says; a refusal is a Denial in local.iam, as any other."""
        # moto's own rule for when it checks callers: from local.iam.enforce() on.
        if ActionAuthenticatorMixin.request_count < moto_settings.INITIAL_NO_AUTH_ACTION_COUNT:
            return None
        if "Authorization" not in headers:
            return management_error(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        resource = (
            f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{self.api_id}/{self.stage}"
            f"/{method}/@connections/{connection_id}"
        )
        try:
            signed = dict(headers.items())
            request = IAMRequest(ACCOUNT_ID, method, target, {}, body, signed, "ManageConnections")
            request.check_signature()
            request.check_action_permitted(resource)
        except Exception as refusal:  # moto's errors, or a header its signature check needs
            error_type = getattr(refusal, "error_type", "IncompleteSignatureException")
            message = getattr(refusal, "message", repr(refusal))
            return management_error(403, _IAM_ERRORS.get(error_type, error_type), message)
        return None
