"""The live connections table: the dashboard pages connected to the WebSocket API, and the
one-time tokens a page connects with.

Keyed by kind (`pk`) and id (`sk`), so a stream batch finds the pages to tell with one Query:
- "token", the token's SHA-256: issued by the REST API (which checked the API key), good for
  TOKEN_SECONDS and for one connection. Only its hash is kept: reading the table gives no token
  to connect with;
- "connection", API Gateway's connection id: a page connected, until it disconnects, a post
  finds it gone (410), or its TTL (API Gateway closes a connection after two hours).
Every item has `expires_at`, the table's TTL; DynamoDB deletes late (up to days), so every
read checks it too.
"""

import hashlib
import secrets
from typing import Any

from botocore.exceptions import ClientError

from postino import aws
from postino.store.codec import is_condition_failure, serialise
from postino.store.own_writes import write_once

TOKEN_SECONDS = 60
# API Gateway's longest WebSocket connection; an idle one closes after 10 minutes.
CONNECTION_SECONDS = 2 * 60 * 60


def token_key(token: str) -> dict[str, Any]:
    return {"pk": serialise("token"), "sk": serialise(hashlib.sha256(token.encode()).hexdigest())}


def connection_key(connection_id: str) -> dict[str, Any]:
    return {"pk": serialise("connection"), "sk": serialise(connection_id)}


class LiveConnectionStore:
    def __init__(self, table: str) -> None:
        self.table = table

    def issue_token(self, now: float) -> str:
        token = secrets.token_urlsafe(24)
        aws.dynamodb().put_item(
            TableName=self.table,
            Item=token_key(token) | {"expires_at": serialise(int(now) + TOKEN_SECONDS)},
        )
        return token

    def redeem(self, token: str, connection_id: str, now: float) -> bool:
        """Whether the token is one we issued, still fresh and unused: it is then used up by this
        connection. A retry whose first attempt used it finds its own mark (write_once)."""
        try:
            write_once(
                aws.dynamodb().update_item,
                {
                    "TableName": self.table,
                    "Key": token_key(token),
                    "UpdateExpression": "SET #used = :connection",
                    "ConditionExpression": (
                        "attribute_exists(pk) AND attribute_not_exists(#used) AND #exp > :now"
                    ),
                    "ExpressionAttributeNames": {"#used": "used_by", "#exp": "expires_at"},
                    "ExpressionAttributeValues": {
                        ":connection": serialise(connection_id),
                        ":now": serialise(int(now)),
                    },
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def add(self, connection_id: str, now: float) -> None:
        aws.dynamodb().put_item(
            TableName=self.table,
            Item=connection_key(connection_id)
            | {"expires_at": serialise(int(now) + CONNECTION_SECONDS)},
        )

    def remove(self, connection_id: str) -> None:
        # Idempotent: a retry, or a second goodbye ($disconnect after a 410), deletes nothing.
        aws.dynamodb().delete_item(TableName=self.table, Key=connection_key(connection_id))

    def connected(self, now: float) -> list[str]:
        """The connections still open: a handful per stack (the operators' pages)."""
        found: list[str] = []
        paginator = aws.dynamodb().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :connection",
            FilterExpression="expires_at > :now",
            ExpressionAttributeValues={
                ":connection": serialise("connection"),
                ":now": serialise(int(now)),
            },
        )
        for page in pages:
            found += [str(item["sk"]["S"]) for item in page.get("Items", [])]
        return found
