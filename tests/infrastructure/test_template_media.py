"""The inbound media resources as deployed: a private bucket that expires with the messages,
and the media function's rights, no more."""

from tests.infrastructure.rendering import PARAMETER_SETS, rendered
from tests.infrastructure.test_template_permissions import (
    ARN_PREFIX,
    EVERY_SECRET,
    SENDER_TOKENS,
    allowed,
    role_statements,
)


def test_the_media_bucket_is_private_encrypted_and_expires_with_the_messages() -> None:
    resources = rendered(PARAMETER_SETS["defaults"])["Resources"]
    bucket = resources["MediaBucket"]["Properties"]
    assert "BucketName" not in bucket  # two stacks never clash
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "RetentionDays"}
    (tls,) = resources["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_the_media_function_reads_the_senders_tokens_only() -> None:
    readable = {
        secret
        for secret in EVERY_SECRET
        if allowed("MediaFunction", "secretsmanager:GetSecretValue", ARN_PREFIX + secret)
    }
    assert readable == set(SENDER_TOKENS)


def test_who_touches_the_media_bucket_and_its_queue() -> None:
    def actions(function: str, resource: str) -> set[str]:
        return {
            action
            for s in role_statements(function)
            if s["Effect"] == "Allow" and resource in str(s["Resource"])
            for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }

    assert actions("MediaFunction", "MediaBucket") == {"s3:PutObject"}
    assert actions("SendFunction", "MediaBucket") == {"s3:GetObject"}
    assert actions("WebhookProcessorFunction", "MediaQueue") == {"sqs:SendMessage"}
    assert actions("MediaFunction", "MediaQueue") == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert actions("MediaFunction", "InboxTable") == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
