"""Telling a write's own earlier effect from someone else's, when its answer was lost.

botocore retries a request whose answer never came (a connection dropped, a read timed out)
with the very same parameters. When the first attempt was applied, the retry meets the world
that attempt made: a conditional write fails its own condition and looks refused (a claim
looks lost, an inbound record looks like a duplicate), and a write whose condition still holds
applies twice (a list appended twice, a counter added twice).

So each write made through `write_once` stores a token of its own (`wt`), and its condition
refuses an item that already carries that token. Its retry then always fails, DynamoDB returns
the item as it is (ReturnValuesOnConditionCheckFailure=ALL_OLD), and the token says whose it
is: ours, and the write counts as done; or anyone else's, and the condition failure is raised
as before. Nothing is guessed from the item's other values, and no extra read is made.

A token is 12 characters (72 random bits) in every item it marks: about 15 bytes of each write.
"""

import secrets
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from postino.store.codec import WRITER_MARK, failed_condition_item, from_item, is_condition_failure

_NAME, _VALUE = "#own_write", ":own_write"


def new_token() -> str:
    return secrets.token_urlsafe(9)


def write_once(write: Callable[..., Any], request: dict[str, Any]) -> dict[str, Any]:
    """Make a PutItem or UpdateItem (`write` is the client's method) at most once. Returns the
    item as DynamoDB answered it (ALL_NEW when asked for), or as it is when our own earlier
    attempt was found.

    Raises the ClientError of a failed condition only when the item is not ours.
    """
    token = new_token()
    try:
        response = write(**stamped(request, token))
    except ClientError as error:
        if is_condition_failure(error) and _mark(error) == token:
            return failed_condition_item(error) or {}
        raise
    return from_item(response.get("Attributes") or {})


def _mark(error: ClientError) -> str | None:
    item: Any = error.response.get("Item") or {}
    mark: str | None = item.get(WRITER_MARK, {}).get("S")
    return mark


def stamped(request: dict[str, Any], token: str) -> dict[str, Any]:
    """The request with our token written, and refused where the item already holds it."""
    request = dict(request)
    request["ExpressionAttributeNames"] = {
        **request.get("ExpressionAttributeNames", {}),
        _NAME: WRITER_MARK,
    }
    request["ExpressionAttributeValues"] = {
        **request.get("ExpressionAttributeValues", {}),
        _VALUE: {"S": token},
    }
    if "Item" in request:
        request["Item"] = {**request["Item"], WRITER_MARK: {"S": token}}
    else:
        request["UpdateExpression"] = _with_token_set(request["UpdateExpression"])
    not_ours = f"(attribute_not_exists({_NAME}) OR {_NAME} <> {_VALUE})"
    condition = request.get("ConditionExpression")
    request["ConditionExpression"] = (
        f"{_grouped(condition)} AND {not_ours}" if condition else not_ours
    )
    request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return request


def _grouped(condition: str) -> str:
    """The condition as one term of an AND: in parentheses when it has an OR outside any (and
    only then: DynamoDB refuses parentheses it calls redundant)."""
    depth = 0
    for index, character in enumerate(condition):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth == 0 and condition.startswith(" OR ", index + 1):
            return f"({condition})"
    return condition


def _with_token_set(expression: str) -> str:
    token_set = f"{_NAME} = {_VALUE}"
    if "SET " in expression[1:]:
        raise ValueError("an update expression with SET puts it first")
    if expression.startswith("SET "):
        return f"SET {token_set}, {expression[4:]}"
    return f"SET {token_set} {expression}"


class PutOnce:
    """A DynamoDB client whose PutItem goes through `write_once`: for a library that writes
    through the client it is given (Powertools' idempotency record, whose lost answer would
    otherwise make a request look like a concurrent copy of itself: 409, the message never
    accepted). Every other call goes to the client as it is."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put_item(self, **request: Any) -> dict[str, Any]:
        write_once(self._client.put_item, request)
        return {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
