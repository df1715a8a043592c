"""A campaign's messages as its report counts them: their ids from the by_campaign index, then
what the report counts (status, error, replied_at, reply_button) from each message.

The index is KEYS_ONLY, so a message's moves write nothing there; a report instead reads each
message (half a read unit apiece, eventually consistent), far cheaper than an index entry
rewritten on every status of every campaign message. Each message is counted as it is now, so
statuses and replies arriving out of order change nothing a later read would not show.
"""

from typing import Any

from postino import aws
from postino.store.codec import from_item, serialise
from postino.store.message_pages import BUCKETS
from postino.store.messages import in_bucket

REPORTED = ("status", "error", "replied_at", "reply_button")
# BatchGetItem's most keys a request.
BATCH_GET_KEYS = 100


def campaign_rows(table: str, campaign: str) -> list[dict[str, Any]]:
    """Every message of the campaign: its status, error, replied_at and reply_button."""
    ids: list[str] = []
    for number in range(BUCKETS):
        query: dict[str, Any] = {
            "TableName": table,
            "IndexName": "by_campaign",
            "KeyConditionExpression": "campaign_key = :c",
            "ExpressionAttributeValues": {":c": serialise(in_bucket(campaign, number))},
        }
        while True:
            response = aws.dynamodb().query(**query)
            ids += [str(from_item(item)["id"]) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH_GET_KEYS):
        rows += _reported(table, ids[start : start + BATCH_GET_KEYS])
    return rows


def _reported(table: str, ids: list[str]) -> list[dict[str, Any]]:
    """The reported attributes of these messages (eventually consistent: a report is a view)."""
    rows: list[dict[str, Any]] = []
    request: Any = {  # boto3's KeysAndAttributesTypeDef
        "Keys": [{"id": serialise(i)} for i in ids],
        "ProjectionExpression": ", ".join(f"#{name}" for name in REPORTED),
        "ExpressionAttributeNames": {f"#{name}": name for name in REPORTED},
    }
    while request["Keys"]:
        response = aws.dynamodb().batch_get_item(RequestItems={table: request})
        rows += [from_item(item) for item in response.get("Responses", {}).get(table, [])]
        unprocessed: Any = response.get("UnprocessedKeys", {})
        request["Keys"] = unprocessed.get(table, {}).get("Keys", [])
    return rows
