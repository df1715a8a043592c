"""Inbound media's storage: the media bucket (S3), its jobs' queue, and the `media` attribute of
an inbound item in the inbox table (written once: a redelivered job finds it there)."""

import json
from typing import Any

from botocore.exceptions import ClientError

from postino import aws
from postino.store.codec import is_condition_failure, serialise
from postino.store.inbox import inbound_key
from postino.store.own_writes import write_once

# A presigned URL is handed to whoever reads the conversation: short-lived, as Meta's are.
PRESIGNED_URL_SECONDS = 300


def object_key(sender: str, wamid: str) -> str:
    """Where an inbound message's file is kept: under its sender, by its message id."""
    return f"inbound/{sender}/{wamid}"


class MediaBucket:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def put(self, key: str, data: bytes, mime_type: str) -> None:
        aws.s3().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=mime_type)

    def presigned_url(self, key: str) -> str:
        """A GET of the object signed with the caller's role, valid PRESIGNED_URL_SECONDS."""
        url: str = aws.s3().generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=PRESIGNED_URL_SECONDS,
        )
        return url


class MediaJobs:
    """The queue of files to fetch (functions/webhook/media.py consumes it)."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def put(self, job: dict[str, Any]) -> None:
        aws.sqs().send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(job))


def set_inbound_media(table: str, wamid: str, media: dict[str, Any]) -> bool:
    """Set the inbound item's `media` unless it has one: True if this call set it."""
    try:
        write_once(
            aws.dynamodb().update_item,
            {
                "TableName": table,
                "Key": {"pk": serialise(inbound_key(wamid))},
                "UpdateExpression": "SET #media = :media",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#media)",
                "ExpressionAttributeNames": {"#media": "media"},
                "ExpressionAttributeValues": {":media": serialise(media)},
            },
        )
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
