"""Drain leases: an item per drainer (a sender's shard) that says it is at work, so the API need
not wake another for it.

It only saves work: correctness never depends on it (claims and the rate window are
conditional writes of their own).
"""

from botocore.exceptions import ClientError

from postino import aws
from postino.store.codec import from_item, is_condition_failure, serialise


def lease_key(scope: str) -> str:
    return f"lease#drain#{scope}"


class DrainLease:
    def __init__(self, table: str) -> None:
        self.table = table

    def acquire(self, scope: str, holder: str, now: float, seconds: float) -> bool:
        try:
            aws.dynamodb().put_item(
                TableName=self.table,
                Item={
                    "key": serialise(lease_key(scope)),
                    "holder": serialise(holder),
                    "expires_at": serialise(int(now + seconds) + 1),
                },
                ConditionExpression="attribute_not_exists(#k) OR expires_at < :now OR holder = :me",
                ExpressionAttributeNames={"#k": "key"},
                ExpressionAttributeValues={":now": serialise(int(now)), ":me": serialise(holder)},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def release(self, scope: str, holder: str) -> None:
        try:
            aws.dynamodb().delete_item(
                TableName=self.table,
                Key={"key": serialise(lease_key(scope))},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": serialise(holder)},
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    def is_held(self, scope: str, now: float) -> bool:
        # An eventually consistent read (half the price): a stale answer costs one extra nudge.
        response = aws.dynamodb().get_item(
            TableName=self.table, Key={"key": serialise(lease_key(scope))}
        )
        item = response.get("Item")
        return item is not None and bool(from_item(dict(item))["expires_at"] > now)
