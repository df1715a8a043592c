"""Answers to an outbound message, written on its item: a reply that quotes it (or presses one
of its buttons), and reactions.

One conditional UpdateItem per answer. The answer's own id goes into the message's
`response_ids` set in the same write, and the write requires it absent: a webhook delivered
twice, or processed again after a crash, applies nothing the second time, and tells so.
"""

from typing import Any

from botocore.exceptions import ClientError

from postino import aws
from postino.messages.model import Event
from postino.store.codec import is_condition_failure, serialise
from postino.store.messages import stored_event
from postino.store.own_writes import write_once


def record_answer(
    table: str,
    message_id: str,
    answer_id: str,
    *,
    now: float,
    event: Event,
    at: float,
    reply: dict[str, Any] | None = None,
    reaction: dict[str, Any] | None = None,
) -> bool:
    """Apply one answer to the message; False when it was applied already (or no such message)."""
    sets = [
        "#updated_at = :now",
        "#events = list_append(if_not_exists(#events, :empty), :event)",
    ]
    names = {
        "#id": "id",
        "#ids": "response_ids",
        "#updated_at": "updated_at",
        "#events": "events",
        "#revision": "revision",
    }
    values: dict[str, Any] = {
        ":now": serialise(now),
        ":empty": serialise([]),
        ":event": serialise([stored_event(event)]),
        ":answer": serialise(answer_id),
        ":answers": {"SS": [answer_id]},
        ":one": serialise(1),
    }
    if reply is not None:
        sets += ["#replied_at = if_not_exists(#replied_at, :at)", "#reply = :reply"]
        names |= {"#replied_at": "replied_at", "#reply": "reply"}
        values |= {":at": serialise(at), ":reply": serialise(reply)}
        if reply.get("button"):
            sets.append("#button = :button")
            names["#button"] = "reply_button"
            values[":button"] = serialise(reply["button"])
    if reaction is not None:
        sets.append("#reactions = list_append(if_not_exists(#reactions, :empty), :reaction)")
        names["#reactions"] = "reactions"
        values[":reaction"] = serialise([reaction])
    try:
        write_once(
            aws.dynamodb().update_item,
            {
                "TableName": table,
                "Key": {"id": serialise(message_id)},
                "UpdateExpression": f"SET {', '.join(sets)} ADD #ids :answers, #revision :one",
                "ConditionExpression": "attribute_exists(#id) AND NOT contains(#ids, :answer)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            },
        )
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
