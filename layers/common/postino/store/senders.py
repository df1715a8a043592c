"""The senders table, and the `default` sender that the stack's parameters define."""

from botocore.exceptions import ClientError

from postino import aws
from postino.errors import PostinoError
from postino.senders.model import CloudApiSender, Sender, WahaSender, sender_from
from postino.settings import Settings
from postino.store.codec import from_item, is_condition_failure, serialise, to_item
from postino.store.own_writes import write_once

DEFAULT_SENDER = "default"


def default_sender(settings: Settings) -> Sender | None:
    """The sender the stack's parameters describe, without any API call; None if not configured."""
    if not settings.default_phone_number_id or not settings.default_access_token_secret:
        return None
    return CloudApiSender(
        name=DEFAULT_SENDER,
        phone_number_id=settings.default_phone_number_id,
        waba_id=settings.default_waba_id or None,
        access_token_secret=settings.default_access_token_secret,
        enforce_service_window=settings.default_enforce_service_window,
        auto_mark_read=settings.default_auto_mark_read,
    )


class SenderStore:
    def __init__(self, settings: Settings) -> None:
        self.table = settings.senders_table
        self._default = default_sender(settings)

    def get(self, name: str) -> Sender | None:
        """A stored profile wins over the stack's default (so `default` can be paused or tuned)."""
        response = aws.dynamodb().get_item(
            TableName=self.table, Key={"name": serialise(name)}, ConsistentRead=True
        )
        if "Item" in response:
            return sender_from(from_item(response["Item"]))
        return self._default if name == DEFAULT_SENDER else None

    def all(self) -> list[Sender]:
        # Senders are a handful per stack: a paginated scan of this small table is the index.
        senders: dict[str, Sender] = {}
        paginator = aws.dynamodb().get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True):
            for item in page.get("Items", []):
                sender = sender_from(from_item(item))
                senders[sender.name] = sender
        if self._default is not None:
            senders.setdefault(DEFAULT_SENDER, self._default)
        return sorted(senders.values(), key=lambda s: s.name)

    def put(self, sender: Sender) -> None:
        aws.dynamodb().put_item(TableName=self.table, Item=to_item(sender.model_dump(mode="json")))

    def set_pause(
        self,
        name: str,
        *,
        paused: bool,
        reason: str | None,
        until: float | None,
        now: float,
        code: str | None = None,
        unless_working_since: float | None = None,
        updated_by: str | None = None,
    ) -> Sender:
        """Pause or resume; a sender known only from the stack's parameters is stored first.

        `updated_by`: the API key of a user's call; Postino's own pauses keep the last one.

        `unless_working_since`: no pause if WAHA reported the session WORKING at or after that
        time (the answer that called for the pause is older than the news); the sender is
        returned as it is.
        """
        sender = self.get(name)
        if sender is None:
            raise PostinoError("sender_not_found", f"No sender named '{name}'.", 404)
        if (
            unless_working_since is not None
            and isinstance(sender, WahaSender)
            and sender.session_status == "WORKING"
            and (sender.session_status_at or 0) >= unless_working_since
        ):
            return sender
        updated = sender.model_copy(
            update={
                "paused": paused,
                "paused_reason": reason,
                "paused_code": code,
                "paused_until": until,
                "updated_at": now,
                "updated_by": updated_by or sender.updated_by,
            }
        )
        try:
            aws.dynamodb().put_item(
                TableName=self.table,
                Item=to_item(updated.model_dump(mode="json")),
                # Only over the version we read: a concurrent PUT of new settings is not undone.
                ConditionExpression="attribute_not_exists(#n) OR updated_at = :u",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":u": serialise(sender.updated_at)},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return self.set_pause(
                    name, paused=paused, reason=reason, until=until, now=now, code=code,
                    unless_working_since=unless_working_since, updated_by=updated_by,
                )  # fmt: skip
            raise
        return updated

    def set_updated_by(self, name: str, api_key_id: str, now: float) -> None:
        """Name the API key whose call changed a stored sender (a WAHA session action)."""
        aws.dynamodb().update_item(
            TableName=self.table,
            Key={"name": serialise(name)},
            # A new updated_at, as in set_session_status: a concurrent set_pause reads again.
            UpdateExpression="SET updated_by = :by, updated_at = :now",
            ConditionExpression="attribute_exists(#n)",
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":by": serialise(api_key_id), ":now": serialise(now)},
        )

    def set_session_status(self, name: str, status: str, now: float, *, at: float) -> bool:
        """Keep a WAHA session's status as of `at`; False if a newer one is kept already."""
        try:
            write_once(
                aws.dynamodb().update_item,
                {
                    "TableName": self.table,
                    "Key": {"name": serialise(name)},
                    # A new updated_at makes a concurrent set_pause (which writes the whole item
                    # over the version it read) fail its condition and read again.
                    "UpdateExpression": "SET session_status = :s, session_status_at = :at, "
                    "updated_at = :now",
                    "ConditionExpression": "provider = :waha AND "
                    "(attribute_not_exists(session_status_at) OR session_status_at < :at)",
                    "ExpressionAttributeValues": {
                        ":s": serialise(status),
                        ":at": serialise(at),
                        ":now": serialise(now),
                        ":waha": serialise("waha"),
                    },
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            return False
        return True
