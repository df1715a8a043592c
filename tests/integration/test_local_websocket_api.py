"""API Gateway's WebSocket API rules, through the local one (local/websocket_api.py).

A real WebSocket client on one side, a real boto3 `apigatewaymanagementapi` client for the
function's answers, and between them the events API Gateway hands the function: $connect while
the upgrade waits (and can refuse it), $default for each frame, one $disconnect at the end.
"""

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local import iam
from local.websocket_api import LocalWebSocketApi

API_ID, STAGE = "a1b2c3d4e5", "prod"
# API Gateway's connection ids: 16 characters of URL-safe base64, the last one "=".
CONNECTION_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")


class Function:
    """A WebSocket function that keeps its events: it lets in a client with a token, and fails
    on a token or a frame that says "boom"."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.events.append(event)
        token = (event.get("queryStringParameters") or {}).get("token")
        if "boom" in (event.get("body"), token):
            raise RuntimeError("the function failed")
        if event["requestContext"]["eventType"] == "CONNECT" and token is None:
            return {"statusCode": 401, "body": '{"message": "no token"}'}
        return {"statusCode": 200}

    def on(self, route_key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["requestContext"]["routeKey"] == route_key]


@pytest.fixture
def function() -> Function:
    return Function()


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def api(function: Function, lines: list[str]) -> Iterator[LocalWebSocketApi]:
    api = LocalWebSocketApi(function, api_id=API_ID, stage=STAGE, on_event=lines.append).start()
    try:
        yield api
    finally:
        api.stop()


def until(condition: Callable[[], Any], seconds: float = 5.0) -> Any:
    """The condition's first true value, polled until a short deadline."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)
    return value


def management(api: LocalWebSocketApi, keys: tuple[str, str, str | None] = ("x", "y", None)) -> Any:
    """The client a function builds for its answers: endpoint_url is the API's callback URL.
    Its keys mean nothing until IAM is enforced."""
    key_id, secret, token = keys
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=api.management_url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def open_socket(api: LocalWebSocketApi, query: str = "?token=t", **kwargs: Any) -> ClientConnection:
    client: ClientConnection = connect(api.url + query, proxy=None, open_timeout=5, **kwargs)
    return client


@contextmanager
def connected(
    api: LocalWebSocketApi, function: Function, **kwargs: Any
) -> Iterator[tuple[ClientConnection, str]]:
    """An open socket and its connection id, as $connect told the function."""
    with open_socket(api, **kwargs) as client:
        yield client, function.on("$connect")[-1]["requestContext"]["connectionId"]


def test_a_handshake_the_function_refuses_gets_its_status_and_keeps_no_connection(
    api: LocalWebSocketApi, function: Function, lines: list[str]
) -> None:
    # GIVEN a function that answers $connect 401 to a client without a token
    # WHEN a client connects without one
    with pytest.raises(InvalidStatus) as refused, open_socket(api, query=""):
        pass
    # THEN the upgrade is refused with the function's status and body, and nothing stays open
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body) == {"message": "no token"}
    assert api.connection_ids() == []
    api.stop()
    assert [e["requestContext"]["routeKey"] for e in function.events] == ["$connect"]
    assert "queryStringParameters" not in function.events[0]  # no query: absent, as on AWS
    assert re.fullmatch(r"websocket connect .{4}… → 401", lines[0])


def test_a_connect_the_function_fails_on_is_refused_with_500(
    api: LocalWebSocketApi, function: Function
) -> None:
    # GIVEN a function that raises on $connect
    # WHEN a client connects
    with pytest.raises(InvalidStatus) as refused, open_socket(api, query="?token=boom"):
        pass
    # THEN API Gateway's 500 refuses the upgrade, and no $disconnect follows
    assert refused.value.response.status_code == 500
    assert api.connection_ids() == []
    api.stop()  # waits for every connection's thread: nothing more can reach the function
    assert [e["requestContext"]["routeKey"] for e in function.events] == ["$connect"]


def test_an_accepted_connection_hears_the_function_and_is_heard_until_it_closes(
    api: LocalWebSocketApi, function: Function
) -> None:
    # GIVEN a client the function lets in, with a query and a header of its own
    with connected(
        api,
        function,
        query="?token=t&room=a&room=b",
        additional_headers={"X-Client": "tests"},
        user_agent_header="tests/1.0",
    ) as (client, connection_id):
        (connecting,) = function.on("$connect")
        context = connecting["requestContext"]
        assert CONNECTION_ID.match(connection_id) and api.connection_ids() == [connection_id]
        assert context["eventType"] == "CONNECT" and context["routeKey"] == "$connect"
        assert context["stage"] == STAGE and context["apiId"] == API_ID
        assert context["domainName"] == f"{API_ID}.execute-api.us-east-1.amazonaws.com"
        assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "tests/1.0"}
        assert connecting["queryStringParameters"] == {"token": "t", "room": "b"}
        assert connecting["multiValueQueryStringParameters"]["room"] == ["a", "b"]
        assert connecting["headers"]["X-Client"] == "tests"
        assert connecting["headers"]["Host"] == context["domainName"]
        assert "Upgrade" not in connecting["headers"]

        # WHEN the function posts to it, text and then bytes that are not UTF-8
        client_of_function = management(api)
        client_of_function.post_to_connection(ConnectionId=connection_id, Data=b"hello")
        client_of_function.post_to_connection(ConnectionId=connection_id, Data=b"\xff\x00")
        # THEN the client gets a text frame, then a binary one
        assert client.recv(timeout=5) == "hello"
        assert client.recv(timeout=5) == b"\xff\x00"

        # WHEN the client sends a text frame and a binary one
        client.send("hi")
        client.send(b"\x01\x02")
        # THEN each reaches the function as $default, the binary one base64-encoded
        text, binary = until(lambda: len(function.on("$default")) == 2 and function.on("$default"))
        assert (text["body"], text["isBase64Encoded"]) == ("hi", False)
        assert text["requestContext"]["eventType"] == "MESSAGE"
        assert CONNECTION_ID.match(text["requestContext"]["messageId"])
        assert binary["body"] == base64.b64encode(b"\x01\x02").decode()
        assert binary["isBase64Encoded"] is True

        # WHEN the client closes its socket
        client.close(code=1000, reason="bye")
        until(lambda: function.on("$disconnect"))
        api.stop()  # waits for every connection's thread: nothing more can reach the function
        # THEN the function hears of it once, with the close frame's code and reason
        (closing,) = function.on("$disconnect")
        assert closing["requestContext"]["connectionId"] == connection_id
        assert closing["requestContext"]["disconnectStatusCode"] == 1000
        assert closing["requestContext"]["disconnectReason"] == "bye"


def test_a_frame_the_function_fails_on_leaves_the_socket_open(
    api: LocalWebSocketApi, function: Function
) -> None:
    # GIVEN an open connection
    with connected(api, function) as (client, connection_id):
        # WHEN the function raises on a frame
        client.send("boom")
        client.send("after")
        # THEN the next frame still reaches it, and it can still answer the client
        until(lambda: [e for e in function.on("$default") if e["body"] == "after"])
        management(api).post_to_connection(ConnectionId=connection_id, Data=b"still here")
        assert client.recv(timeout=5) == "still here"
        assert function.on("$disconnect") == []


def test_posting_to_a_connection_that_is_not_open_is_gone(
    api: LocalWebSocketApi, function: Function
) -> None:
    # GIVEN a connection that has closed, and an id that never existed
    with connected(api, function) as (client, connection_id):
        client.close()
        until(lambda: function.on("$disconnect"))
        answers = management(api)
        for unknown in (connection_id, "L0SM9cOFvHcCIhw="):
            # WHEN the function posts to it
            # THEN botocore raises GoneException, as AWS's 410 makes it
            with pytest.raises(answers.exceptions.GoneException):
                answers.post_to_connection(ConnectionId=unknown, Data=b"hello")
            with pytest.raises(answers.exceptions.GoneException):
                answers.get_connection(ConnectionId=unknown)


def test_a_post_over_128_kb_is_too_large(api: LocalWebSocketApi, function: Function) -> None:
    # GIVEN an open connection
    with connected(api, function) as (client, connection_id):
        answers = management(api)
        # WHEN the function posts more than API Gateway's 128 KB
        # THEN botocore raises PayloadTooLargeException, and the client gets nothing
        with pytest.raises(answers.exceptions.PayloadTooLargeException):
            answers.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.2)


def test_delete_closes_the_socket_and_get_describes_it_before(
    api: LocalWebSocketApi, function: Function
) -> None:
    # GIVEN an open connection
    with connected(api, function, user_agent_header="tests/1.0") as (client, connection_id):
        answers = management(api)
        described = answers.get_connection(ConnectionId=connection_id)
        assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "tests/1.0"}
        assert described["LastActiveAt"] >= described["ConnectedAt"]
        # WHEN the function deletes it
        answers.delete_connection(ConnectionId=connection_id)
        # THEN the client's socket closes, $disconnect runs, and the id is gone
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=5)
        until(lambda: function.on("$disconnect"))
        assert api.connection_ids() == []
        with pytest.raises(answers.exceptions.GoneException):
            answers.delete_connection(ConnectionId=connection_id)


@pytest.mark.parametrize("path", ["/other", f"/{STAGE}/", f"/{STAGE}/chat", "/"])
def test_only_the_stage_path_is_served(
    api: LocalWebSocketApi, function: Function, path: str
) -> None:
    # GIVEN the API's stage path, and another one
    url = api.url.removesuffix(f"/{STAGE}") + path
    # WHEN a client connects to the other
    with pytest.raises(InvalidStatus) as refused, connect(url + "?token=t", proxy=None):
        pass
    # THEN API Gateway's 403 answers, and the function never hears of it
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body) == {"message": "Forbidden"}
    assert function.events == []


def test_the_callers_role_must_allow_manage_connections(
    api: LocalWebSocketApi, function: Function
) -> None:
    # GIVEN IAM enforced, and a role that may ManageConnections by POST only
    with mock_aws():
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="websocket-function",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]
        arn = f"arn:aws:execute-api:us-east-1:123456789012:{API_ID}/{STAGE}"
        boto3.client("iam", region_name="us-east-1").put_role_policy(
            RoleName="websocket-function",
            PolicyName="answer",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "execute-api:ManageConnections",
                            "Resource": f"{arn}/POST/@connections/*",
                        }
                    ],
                }
            ),
        )
        assumed = boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn=role["Arn"], RoleSessionName="WebSocketFunction"
        )["Credentials"]
        keys = (assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
        answers = management(api, keys)
        with connected(api, function) as (client, connection_id):
            iam.enforce()
            try:
                # WHEN the function posts, then asks about the connection
                answers.post_to_connection(ConnectionId=connection_id, Data=b"hello")
                with pytest.raises(answers.exceptions.ClientError) as refused:
                    answers.get_connection(ConnectionId=connection_id)
                # THEN the post is let through, the GET refused as AWS refuses it, and recorded
                assert client.recv(timeout=5) == "hello"
                assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
                (denial,) = iam.take_denials()
                assert denial.action == "execute-api:ManageConnections"
                assert denial.resource == f"{arn}/GET/@connections/{connection_id}"
                # AND a caller whose keys IAM does not know is refused too
                with pytest.raises(answers.exceptions.ClientError) as unknown:
                    management(api).post_to_connection(ConnectionId=connection_id, Data=b"x")
                assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"
            finally:
                iam.enforce(on=False)
