"""Keeping one inbound file: fetch it, put it in the media bucket, note it on the inbound item.

The note is a conditional write (only where there is none), so a job delivered twice keeps the
file once: the second finds the note and fetches nothing. A failed fetch raises FetchFailed and
the job comes back from its queue; a refusal or a file over the limit is noted, for good.
"""

import hashlib
from typing import Any

from postino.media.fetch import Fetched, Refused, fetch
from postino.media.jobs import MediaJob
from postino.observability import logger, metrics
from postino.services import Services
from postino.store.inbox import inbound_key
from postino.store.media import MediaBucket, object_key, set_inbound_media


def keep(services: Services, job: MediaJob) -> str:
    """What became of the job: kept, too_large, refused, duplicate or gone."""
    item = services.inbox.get(inbound_key(job.wamid))
    if item is None:
        return "gone"  # past the retention period: nothing to keep it for
    if "media" in item:
        return "duplicate"
    settings = services.settings
    try:
        got = fetch(settings, services.senders.get(job.sender), job)
    except Refused as refused:
        logger.warning("inbound media refused", extra={"wamid": job.wamid, "reason": str(refused)})
        metrics.add_metric(name="InboundMediaRefused", unit="Count", value=1)
        media: dict[str, Any] = {"mime_type": job.mime_type, "refused": str(refused)}
        outcome = "refused"
    else:
        if isinstance(got, Fetched):
            key = object_key(job.sender, job.wamid)
            MediaBucket(settings.media_bucket).put(key, got.data, got.mime_type)
            media = {
                "mime_type": got.mime_type,
                "size": len(got.data),
                "sha256": hashlib.sha256(got.data).hexdigest(),
                "key": key,
            }
            outcome = "kept"
        else:
            media = {"mime_type": got.mime_type, "size": got.size, "too_large": True}
            outcome = "too_large"
    if not set_inbound_media(settings.inbox_table, job.wamid, media):
        return "duplicate"  # another delivery of the job noted it first
    metrics.add_metric(name="InboundMedia", unit="Count", value=1)
    logger.info("inbound media", extra={"wamid": job.wamid, "outcome": outcome})
    return outcome
