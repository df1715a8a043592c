"""One settings model, read from the environment that template.yaml gives each function."""

import os
from functools import cache
from typing import Literal

from pydantic import ConfigDict, Field

from postino.drain.rate_window import GRACE_SECONDS
from postino.model import Model


class Settings(Model):
    model_config = ConfigDict(frozen=True)

    messages_table: str = "postino-MessagesTable"
    senders_table: str = "postino-SendersTable"
    rate_window_table: str = "postino-RateWindowTable"
    idempotency_table: str = "postino-IdempotencyTable"
    inbox_table: str = "postino-InboxTable"
    # Each sender's outbound queue is this prefix and its name (postino/outbox.py).
    sender_queue_prefix: str = "postino-"
    outbound_dead_letter_arn: str = ""
    ingest_queue_url: str = ""
    # Inbound media (postino/media/): the jobs' queue, the bucket that keeps the files, and the
    # largest file kept (a larger one is noted, not stored).
    media_queue_url: str = ""
    media_bucket: str = ""
    media_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    drain_function_name: str = ""
    # The dashboard's live updates (postino/live/): the WebSocket API's connections and one-time
    # tokens, the URL a page connects to (wss://…/stage), and the endpoint that posts to them.
    live_connections_table: str = "postino-LiveConnectionsTable"
    live_url: str = ""
    live_endpoint: str = ""

    graph_api_base_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v23.0"
    default_phone_number_id: str = ""
    default_waba_id: str = ""
    default_access_token_secret: str = ""
    # The default sender refuses free-form messages outside the 24-hour window (Meta would).
    default_enforce_service_window: bool = True
    default_auto_mark_read: bool = False
    # Secrets Manager names of Meta's app secret (webhook signatures) and the verify token.
    app_secret_name: str = ""
    verify_token_name: str = ""
    # Secrets Manager name of the key WAHA signs its webhooks with (X-Webhook-Hmac).
    waha_hmac_key_name: str = ""
    # The only WAHA base URLs a sender may name (comma-separated; `*` within host or port).
    waha_allowed_base_urls: str = ""
    # Secrets Manager name of the key that signs `{signed_link}` links (postino/links.py).
    link_key_name: str = "postino/links/signing-key"
    # Where ReservationRequested events go ("default" is the account's default bus).
    event_bus_name: str = "default"
    # Which status changes go on the bus (template.yaml's StatusEvents; postino/events.py).
    status_events: Literal["all", "failures", "none"] = "failures"
    reservation_code_pattern: str = r"\bRES-[A-Z0-9]{3,12}\b"
    reservation_notification_text: str = (
        "New reservation request {code} from {profile_name} (+{from_number}): {text}"
    )
    # When set, the operator is notified with this approved template (body parameters: code,
    # name, number, text) instead of free text, which Meta refuses outside their 24-hour window.
    reservation_notification_template: str = ""
    reservation_notification_language: str = "en_US"
    # When set, the customer gets this text back (their window is open: they just wrote).
    reservation_acknowledgement_text: str = ""
    secrets_prefix: str = "postino/"
    retention_days: int = Field(default=90, ge=1)

    # How many sends one drainer keeps in flight (threads, mostly waiting on the network).
    drain_concurrency: int = Field(default=64, ge=1)
    # How late a send may reach the peer after its reserved start (see drain/rate_window.py).
    rate_window_grace_seconds: float = Field(default=GRACE_SECONDS, gt=0, le=5)
    # Seconds the drainer keeps in hand before its function's timeout: the longest WAHA
    # human-like flow (senders/model.py) and its requests fit in it.
    drain_margin_seconds: float = Field(default=20.0, ge=0)
    # How long before its deadline a drainer with work left starts its successor: more than a
    # cold start (make bench: about 0.5 s), so the successor is ready when the lease is free.
    drain_handover_seconds: float = Field(default=1.5, ge=0)

    @classmethod
    def from_environment(cls) -> "Settings":
        """Each field from the upper-case variable of its name, where set."""
        values = {
            name: os.environ[name.upper()]
            for name in cls.model_fields
            if name.upper() in os.environ
        }
        return cls.model_validate(values)


@cache
def get_settings() -> Settings:
    return Settings.from_environment()
