"""Inbound media kept: an inbound file fetched once from Meta or WAHA into the media bucket
(jobs → fetch → keep), and shown in a conversation through a short-lived presigned URL (shown)."""
