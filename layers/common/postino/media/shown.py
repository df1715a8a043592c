"""An inbound file as a conversation shows it: what the record says of it and, when it is kept,
a presigned URL that lives a few minutes (signed with the reader's role: no public bucket)."""

from typing import Any

from postino.services import get_services
from postino.store.media import MediaBucket

SHOWN = ("mime_type", "size", "sha256", "too_large", "refused")


def media_content(item: dict[str, Any]) -> dict[str, Any]:
    """{"media": {...}} for an inbound item whose file was fetched (or refused), else {}."""
    media = item.get("media")
    if not isinstance(media, dict):
        return {}
    shown = {name: media[name] for name in SHOWN if media.get(name) is not None}
    if media.get("key"):
        bucket = MediaBucket(get_services().settings.media_bucket)
        shown["url"] = bucket.presigned_url(str(media["key"]))
    return {"media": shown}
