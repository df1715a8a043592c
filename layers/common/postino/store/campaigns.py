"""A campaign's messages as its report counts them, read from the by_campaign index.

The index projects only what the report counts (status, error, replied_at, reply_button), so
the report reads no item of the table and scans nothing: one query per bucket, paged. Each
message is counted as it is now, so statuses and replies arriving out of order change nothing
a later read would not show.
"""

from typing import Any

from postino import aws
from postino.store.codec import from_item, serialise
from postino.store.message_pages import BUCKETS
from postino.store.messages import in_bucket

REPORTED = ("status", "error", "replied_at", "reply_button")


def campaign_rows(table: str, campaign: str) -> list[dict[str, Any]]:
    """Every message of the campaign: its status, error, replied_at and reply_button."""
    rows: list[dict[str, Any]] = []
    for number in range(BUCKETS):
        query: dict[str, Any] = {
            "TableName": table,
            "IndexName": "by_campaign",
            "KeyConditionExpression": "campaign_key = :c",
            "ExpressionAttributeValues": {":c": serialise(in_bucket(campaign, number))},
            "ProjectionExpression": ", ".join(f"#{name}" for name in REPORTED),
            "ExpressionAttributeNames": {f"#{name}": name for name in REPORTED},
        }
        while True:
            response = aws.dynamodb().query(**query)
            rows += [from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return rows
