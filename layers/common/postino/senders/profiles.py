"""Sender profiles as users manage them: create or replace, look, list, resume."""

from postino.clock import iso
from postino.drain.rate_window import limit_key, window_usage
from postino.errors import PostinoError
from postino.queueing import release_parked
from postino.send.accept import wake_drain
from postino.senders.allowed import check_sender_secret, check_waha_base_url
from postino.senders.model import (
    CloudApiSender,
    CloudApiSettings,
    LimitWindow,
    Sender,
    SenderResource,
    WahaSender,
    WahaSettings,
)
from postino.services import Services
from postino.store.rate_window import sender_window_key

# Resume moves parked messages back to the queue for at most this long in one request.
RESUME_BUDGET_SECONDS = 20.0


def put_sender(
    services: Services,
    name: str,
    settings: CloudApiSettings | WahaSettings,
    *,
    api_key_id: str | None = None,
) -> Sender:
    secret = (
        settings.access_token_secret
        if isinstance(settings, CloudApiSettings)
        else settings.api_key_secret
    )
    field = "access_token_secret" if isinstance(settings, CloudApiSettings) else "api_key_secret"
    check_sender_secret(field, secret, services.settings)
    if isinstance(settings, WahaSettings):
        check_waha_base_url(settings.base_url, services.settings)
        _check_session_free(services, name, settings)
    existing = services.senders.get(name)
    # Settings are replaced; a pause is state, and only `resume` (or WAHA's session) lifts it.
    state = {
        "name": name,
        "paused": existing.paused if existing else False,
        "paused_reason": existing.paused_reason if existing else None,
        "paused_code": existing.paused_code if existing else None,
        "paused_until": existing.paused_until if existing else None,
        "updated_at": services.clock.now(),
        "updated_by": api_key_id,
    }
    sender: Sender
    if isinstance(settings, CloudApiSettings):
        sender = CloudApiSender(**settings.model_dump(), **state)
    else:
        same_session = isinstance(existing, WahaSender) and (
            (existing.base_url, existing.session) == (settings.base_url, settings.session)
        )
        status = existing.session_status if isinstance(existing, WahaSender) else None
        sender = WahaSender(
            **settings.model_dump(), **state, session_status=status if same_session else None
        )
    services.senders.put(sender)
    return sender


def get_sender(services: Services, name: str) -> Sender:
    sender = services.senders.get(name)
    if sender is None:
        raise PostinoError("sender_not_found", f"No sender named '{name}'.", 404)
    return sender


def sender_windows(services: Services, sender: Sender) -> list[LimitWindow]:
    now = services.clock.now()
    logs = services.rate_windows.read(sender_window_key(sender.name), sender.limits, now)
    windows = []
    for limit in sender.limits:
        used, next_slot = window_usage(logs[limit_key(limit)], limit, now)
        windows.append(
            LimitWindow(
                max=limit.max, per_seconds=limit.per_seconds, used=used, next_slot_at=iso(next_slot)
            )
        )
    return windows


MANUAL_PAUSE = "paused by hand"


def pause_sender(
    services: Services, name: str, reason: str | None, *, api_key_id: str | None = None
) -> Sender:
    """Hold the sender's messages back until it is resumed: they stay queued, none is sent.

    Its code is not `waha_session`, so a WAHA session that works again does not lift it."""
    get_sender(services, name)
    return services.senders.set_pause(
        name,
        paused=True,
        reason=reason or MANUAL_PAUSE,
        until=None,
        now=services.clock.now(),
        code="manual",
        updated_by=api_key_id,
    )


def resume_sender(
    services: Services, name: str, *, api_key_id: str | None = None
) -> tuple[Sender, int]:
    """Lift a pause and put the messages it held back on the queue. Returns how many.

    `api_key_id`: the caller's key, kept on the sender (None: WAHA's session resumed it)."""
    get_sender(services, name)
    now = services.clock.now()
    sender = services.senders.set_pause(
        name, paused=False, reason=None, until=None, now=now, updated_by=api_key_id
    )
    moved = release_parked(services, name, until=now + RESUME_BUDGET_SECONDS)
    if moved:
        wake_drain(services, name)
    return sender, moved


def sender_resource(sender: Sender, windows: list[LimitWindow] | None = None) -> SenderResource:
    common = {
        "name": sender.name,
        "provider": sender.provider,
        "limits": sender.limits,
        "pair_limit": sender.pair_limit,
        "auto_mark_read": sender.auto_mark_read,
        "paused": sender.paused,
        "paused_reason": sender.paused_reason,
        "paused_until": iso(sender.paused_until) if sender.paused_until else None,
        "windows": windows,
        "updated_by": sender.updated_by,
    }
    if isinstance(sender, CloudApiSender):
        return SenderResource(
            **common,
            phone_number_id=sender.phone_number_id,
            waba_id=sender.waba_id,
            access_token_secret=sender.access_token_secret,
            enforce_service_window=sender.enforce_service_window,
        )
    return SenderResource(
        **common,
        base_url=sender.base_url,
        api_key_secret=sender.api_key_secret,
        session=sender.session,
        session_status=sender.session_status,
        gap_seconds=sender.gap_seconds,
        human_like=sender.human_like,
    )


def _check_session_free(services: Services, name: str, settings: WahaSettings) -> None:
    """WAHA's webhooks name only the session: one sender per session name tells them apart."""
    for other in services.senders.all():
        if (
            isinstance(other, WahaSender)
            and other.name != name
            and other.session == settings.session
        ):
            raise PostinoError(
                "session_in_use",
                f"The WAHA session '{settings.session}' belongs to the sender '{other.name}'; "
                "give this sender a session of its own.",
                409,
            )
