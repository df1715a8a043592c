"""Everything a handler needs, built once per process from the settings (tests build their own)."""

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from postino.clock import Clock, SystemClock
from postino.nudge import DrainNudger
from postino.outbox import SenderQueues
from postino.providers.router import ProviderRouter
from postino.settings import Settings, get_settings
from postino.store.inbox import InboxStore
from postino.store.lease import DrainLease
from postino.store.messages import MessageStore
from postino.store.rate_window import RateWindowStore
from postino.store.senders import SenderStore

if TYPE_CHECKING:
    from postino.providers.cloud_api import CloudApiProvider
    from postino.providers.waha import WahaProvider


@dataclass
class Services:
    settings: Settings
    clock: Clock
    messages: MessageStore
    senders: SenderStore
    inbox: InboxStore
    rate_windows: RateWindowStore
    lease: DrainLease
    queues: SenderQueues
    provider: ProviderRouter
    nudger: DrainNudger
    rng: random.Random = field(default_factory=random.Random)
    # Helpers built on first use and kept for the life of the process (e.g. idempotency).
    memo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> "Services":
        clock = clock or SystemClock()
        rng = random.Random()  # noqa: S311 - jitter and human-like pauses, not secrets
        return cls(
            settings=settings,
            clock=clock,
            messages=MessageStore(settings.messages_table, settings.retention_days),
            senders=SenderStore(settings),
            inbox=InboxStore(settings.inbox_table, settings.retention_days),
            rate_windows=RateWindowStore(settings.rate_window_table),
            lease=DrainLease(settings.rate_window_table),
            queues=SenderQueues(settings.sender_queue_prefix, settings.outbound_dead_letter_arn),
            provider=ProviderRouter(
                cloud_api=lambda: _cloud_api(settings),
                waha=lambda: _waha(settings, clock, rng),
            ),
            nudger=DrainNudger(settings.drain_function_name),
            rng=rng,
        )


def _cloud_api(settings: Settings) -> "CloudApiProvider":
    from postino.providers.cloud_api import CloudApiProvider  # on first use: it loads httpx

    return CloudApiProvider(settings.graph_api_base_url, settings.graph_api_version)


def _waha(settings: Settings, clock: Clock, rng: random.Random) -> "WahaProvider":
    from postino.providers.waha import WahaProvider  # on first use: it loads httpx

    return WahaProvider(clock, rng, settings.waha_allowed_base_urls)


_services: Services | None = None


def get_services() -> Services:
    global _services
    if _services is None:
        _services = Services.build(get_settings())
    return _services


def use_services(services: Services | None) -> None:
    """Install a container (tests), or None to build afresh from the environment."""
    global _services
    _services = services
