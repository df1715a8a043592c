"""A job to keep an inbound message's file: put on the media queue by the webhook processor,
taken by the media function (functions/webhook/media.py). Small: what to fetch and for whom."""

from typing import Literal

from postino.model import Model
from postino.observability import logger
from postino.senders.model import CloudApiSender, Sender, WahaSender
from postino.settings import Settings
from postino.store.media import MediaJobs

MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})


class MediaJob(Model):
    wamid: str
    sender: str
    provider: Literal["cloud_api", "waha"]
    mime_type: str | None = None
    # Meta's media id (the Cloud API), or the file's URL on the sender's WAHA.
    media_id: str | None = None
    url: str | None = None


def job_for(sender: Sender | None, record: dict[str, object]) -> MediaJob | None:
    """The job an inbound record calls for; None for a message without a file to fetch (or a
    Cloud API number no sender of ours has: there is no token to fetch it with)."""
    if record.get("type") not in MEDIA_TYPES or record.get("direction", "in") != "in":
        return None
    mime_type = str(record["mime_type"]) if record.get("mime_type") else None
    wamid = str(record["wamid"])
    if isinstance(sender, CloudApiSender) and record.get("media_id"):
        return MediaJob(
            wamid=wamid,
            sender=sender.name,
            provider="cloud_api",
            mime_type=mime_type,
            media_id=str(record["media_id"]),
        )
    if isinstance(sender, WahaSender) and record.get("media_url"):
        return MediaJob(
            wamid=wamid,
            sender=sender.name,
            provider="waha",
            mime_type=mime_type,
            url=str(record["media_url"]),
        )
    return None


def request_media(settings: Settings, sender: Sender | None, record: dict[str, object]) -> None:
    """Queue the fetch of an inbound record's file, if it has one.

    Called for a redelivered notification too: a crash between storing the record and this
    call must not lose the file, and a job for a file already kept does nothing.
    """
    job = job_for(sender, record)
    if job is None or not settings.media_queue_url:
        return
    MediaJobs(settings.media_queue_url).put(job.model_dump(exclude_none=True))
    logger.debug("media fetch queued", extra={"wamid": job.wamid, "provider": job.provider})
