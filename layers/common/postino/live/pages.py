"""A dashboard page on the WebSocket API: it connects with a one-time token the REST API gave it
(POST /v1/live, behind the API key), and is forgotten when it goes."""

import json
from typing import Any

from postino.store.live_connections import LiveConnectionStore

REFUSED = {
    "statusCode": 401,
    "headers": {"Content-Type": "application/json"},
    "body": json.dumps(
        {
            "error": {
                "code": "live_token_refused",
                "message": "Connect with a token from POST /v1/live: each is good once, "
                "for 60 seconds.",
            }
        }
    ),
}


def connect(event: dict[str, Any], connections: LiveConnectionStore, now: float) -> dict[str, Any]:
    """$connect: a token we issued, fresh and unused, or a 401 (API Gateway then refuses the
    handshake with it)."""
    token = (event.get("queryStringParameters") or {}).get("token") or ""
    connection_id = event["requestContext"]["connectionId"]
    if not token or not connections.redeem(token, connection_id, now):
        return REFUSED
    connections.add(connection_id, now)
    return {"statusCode": 200}


def disconnect(event: dict[str, Any], connections: LiveConnectionStore) -> dict[str, Any]:
    connections.remove(event["requestContext"]["connectionId"])
    return {"statusCode": 200}
