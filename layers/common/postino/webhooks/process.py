"""Processing one queued webhook notification: statuses, inbound messages, and the rest.

Every write is conditional or idempotent, so SQS redelivering a notification (or Meta sending
it twice) changes nothing the first time did not.
"""

import json
from collections import Counter
from typing import Any

from postino.conversations.inbound import (
    conversation_contact,
    filed,
    inbound_record,
    record_typed_on_phone,
    touch_conversation,
)
from postino.events import announced, message_received, publish_at_most_once, status_changed
from postino.media.jobs import request_media
from postino.messages.model import Status
from postino.observability import logger, mask_phone, metrics
from postino.senders.model import CloudApiSender, Sender, WahaSender
from postino.services import Services
from postino.store.inbox import contact_key, inbound_key, orphan_status_key, templates_key
from postino.store.messages import StaleState
from postino.webhooks.payload import (
    Contact,
    InboundMessage,
    Notification,
    StatusUpdate,
    Value,
    epoch,
)
from postino.webhooks.receipts import RECEIVING, merge
from postino.webhooks.waha_events import (
    ACK_PATIENCE_SECONDS,
    WahaEvent,
    ack_update,
    apply_session_status,
    event_key,
    inbound_message,
    is_from_a_person,
    is_typed_on_the_phone,
    reaction_message,
    typed_message,
)

OUR_ID_LENGTH = 32
# WAHA's events that carry a message: `message` (inbound only) or `message.any` (ours too).
MESSAGE_EVENTS = ("message", "message.any")
SENDER_CACHE_SECONDS = 60.0


class NotYetRecorded(Exception):
    """A status for a send the drain has not recorded yet: try again in a few seconds."""


class Processor:
    def __init__(self, services: Services, enqueued_at: float = 0.0) -> None:
        """`enqueued_at`: when the webhook route queued the notification (SQS's SentTimestamp)."""
        self.s = services
        self.enqueued_at = enqueued_at
        self.counts: Counter[str] = Counter()
        # Statuses whose send the drain has not recorded yet: the rest of the body is done
        # first, then the record fails so that SQS brings it back for them (all idempotent).
        self.not_yet_recorded: list[str] = []

    def process(self, body: str) -> Counter[str]:
        data = json.loads(body)
        if isinstance(data, dict) and "object" not in data:
            self._waha(WahaEvent.model_validate(data))
        else:
            self._meta(Notification.model_validate(data))
        if self.not_yet_recorded:
            raise NotYetRecorded(", ".join(self.not_yet_recorded))
        return self.counts

    def _meta(self, notification: Notification) -> None:
        for entry in notification.entry:
            for change in entry.changes:
                if change.field == "messages":
                    self._messages(Value.model_validate(change.value))
                elif change.field == "message_template_status_update":
                    self._template_status(entry.id, change.value)
                elif change.field == "user_preferences":
                    self._preferences(change.value)
                else:
                    self.counts[f"ignored:{change.field}"] += 1

    # ---- messages: statuses, inbound, errors ---------------------------------------------------

    def _messages(self, value: Value) -> None:
        phone_number_id = value.metadata.phone_number_id if value.metadata else None
        sender = self._sender_for(phone_number_id) if value.messages else None
        for update in value.statuses:
            try:
                self.counts[f"status:{self.apply_status(update)}"] += 1
            except NotYetRecorded as pending:
                self.not_yet_recorded.append(str(pending))
        for message in value.messages:
            contact = next((c for c in value.contacts if c.wa_id == message.from_), None)
            self.counts[
                f"inbound:{self.record_inbound(sender, phone_number_id, message, contact)}"
            ] += 1
        for error in value.errors:
            logger.warning(
                "webhook reports an error", extra={"code": error.code, "title": error.title}
            )
            metrics.add_metric(name="WebhookErrors", unit="Count", value=1)
            self.counts["errors"] += 1

    def apply_status(self, update: StatusUpdate, message_id: str | None = None) -> str:
        now = self.s.clock.now()
        message_id = message_id or self._our_id(update)
        message = self.s.messages.get(message_id) if message_id else None
        for _ in range(5):
            if message is None or not _belongs(message, update):
                return self._orphan(update, now)
            if message.status is Status.SENDING:
                raise NotYetRecorded(message.id)
            changes = merge(message, update, now)
            if changes is None:
                return "duplicate"
            try:
                updated = self.s.messages.update(
                    message.id,
                    statuses=(message.status,),
                    now=now,
                    changes=changes,
                    equals={"updated_at": message.updated_at},
                )
            except StaleState as stale:
                message = stale.current  # changed meanwhile: merge into what it is now
                continue
            if updated.status is not message.status and announced(
                self.s.settings.status_events, updated.status
            ):
                # At most once: a crash before this line loses the event, and the redelivery
                # finds the receipt merged (a duplicate) and publishes nothing. Accepted: the
                # message and its timeline are the record; at least once would cost a write more.
                changed = status_changed(
                    updated, updated.status, epoch(update.timestamp, now), updated.error
                )
                publish_at_most_once(self.s.settings.event_bus_name, changed)
            return "applied"
        raise RuntimeError("status kept conflicting")  # SQS tries the record again

    def _our_id(self, update: StatusUpdate) -> str | None:
        # We send our id as biz_opaque_callback_data and Meta echoes it: no index read needed.
        echoed = update.biz_opaque_callback_data
        if echoed and len(echoed) == OUR_ID_LENGTH and echoed.isalnum():
            return echoed
        return self.s.messages.find_by_wamid(update.id)

    def _orphan(self, update: StatusUpdate, now: float) -> str:
        self.s.inbox.put_new(
            orphan_status_key(update.id, update.status),
            {"kind": "orphan_status", "status": update.model_dump(mode="json", by_alias=True)},
            now=now,
        )
        metrics.add_metric(name="OrphanStatuses", unit="Count", value=1)
        return "orphan"

    def record_inbound(
        self,
        sender: Sender | None,
        phone_number_id: str | None,
        message: InboundMessage,
        contact: Contact | None,
        chat: str | None = None,
    ) -> str:
        now = self.s.clock.now()
        sender_name = sender.name if sender else f"phone:{phone_number_id}"
        at = epoch(message.timestamp, now)
        profile_name = contact.profile.name if contact and contact.profile else None
        record = filed(
            self.s,
            sender_name,
            conversation_contact(message, chat),
            message,
            inbound_record(sender_name, message, profile_name, at, now),
        )
        created = self.s.inbox.put_new(inbound_key(message.id), record, now=now)
        # Its file, if any, is fetched off this path (functions/webhook/media.py).
        request_media(self.s.settings, sender, record)
        touch_conversation(self.s, sender_name, record, new=created)
        profile = {"profile_name": profile_name, "user_id": contact.user_id if contact else None}
        self.s.inbox.touch_contact(
            sender_name,
            message.from_,
            inbound_at=at,
            profile={k: v for k, v in profile.items() if v is not None},
        )
        # Imported on the first inbound message: the send path it needs is no status's cost.
        from postino.reservations.service import request_reservations

        # Not gated on `created`: a retry after a crash still makes the requests it owes.
        request_reservations(self.s, sender_name, message, profile_name, now)
        if created and sender is not None and sender.auto_mark_read:
            # At most once: a crash before this line skips the receipt (it is only blue ticks).
            self.s.provider.mark_read(sender, message.id, chat or message.from_)
        if created:
            metrics.add_metric(name="InboundMessages", unit="Count", value=1)
            logger.info(
                "inbound message",
                extra={"from": mask_phone(message.from_), "type": message.type},
            )
            publish_at_most_once(self.s.settings.event_bus_name, message_received(record, chat))
        return "stored" if created else "duplicate"

    # ---- WAHA's events ----------------------------------------------------------------------------

    def _waha(self, event: WahaEvent) -> None:
        """Once per envelope id: WAHA retries, and a retry must not resume or pause again."""
        now = self.s.clock.now()
        if self.s.inbox.get(event_key(event.id)) is not None:
            self.counts["waha:duplicate"] += 1
            return
        sender = self._waha_sender(event.session)
        if sender is None:
            self.counts["waha:unknown_session"] += 1
            logger.warning("WAHA event for no sender", extra={"session": event.session})
        elif event.event in MESSAGE_EVENTS and is_from_a_person(event.payload):
            message, contact, group = inbound_message(event)
            chat = group or str(event.payload.get("from") or "")
            self.counts[f"inbound:{self.record_inbound(sender, None, message, contact, chat)}"] += 1
        elif event.event == "message.reaction" and is_from_a_person(event.payload):
            reaction, contact, group = reaction_message(event)
            chat = group or str(event.payload.get("from") or "")
            self.counts[
                f"inbound:{self.record_inbound(sender, None, reaction, contact, chat)}"
            ] += 1
        elif event.event == "message.any" and is_typed_on_the_phone(event.payload):
            typed, to = typed_message(event)
            self.counts[f"phone:{record_typed_on_phone(self.s, sender.name, typed, to, now)}"] += 1
        elif event.event == "message.ack":
            self.counts[f"status:{self._waha_ack(event, now)}"] += 1
        elif event.event == "session.status":
            self.counts[f"session:{apply_session_status(self.s, sender, event)}"] += 1
        else:
            self.counts[f"ignored:{event.event}"] += 1
        if not self.not_yet_recorded:
            self.s.inbox.put_new(
                event_key(event.id), {"kind": "waha_event", "event": event.event}, now=now
            )

    def _waha_ack(self, event: WahaEvent, now: float) -> str:
        update = ack_update(event, now)
        if update is None:
            return "ignored"
        message_id = self.s.messages.find_by_wamid(update.id)
        if message_id is None and now - event.at(now) < ACK_PATIENCE_SECONDS:
            # WAHA's first ack can beat the drain's record of the send (and the index lags).
            self.not_yet_recorded.append(update.id)
            return "not_yet_recorded"
        try:
            return self.apply_status(update, message_id)
        except NotYetRecorded as pending:
            self.not_yet_recorded.append(str(pending))
            return "not_yet_recorded"

    def _waha_sender(self, session: str) -> WahaSender | None:
        """The WAHA sender of a session (session names are unique among WAHA senders).

        A sender made after the last read is looked for once more: its session's first events
        follow its making closely. Only when the senders were read before the event was queued:
        a read since then is as fresh as any (and an unknown session costs no more reads).
        """
        for fresh in (False, True):
            found = next(
                (
                    s
                    for s in self._senders(read_after=self.enqueued_at if fresh else None)
                    if isinstance(s, WahaSender) and s.session == session
                ),
                None,
            )
            if found is not None:
                return found
        return None

    # ---- templates and preferences -------------------------------------------------------------

    def _template_status(self, waba_id: str, value: dict[str, Any]) -> None:
        """Meta says a template's status changed: the cached copy learns it at once."""
        key = templates_key(waba_id)
        cached = self.s.inbox.get(key)
        if cached is None:
            self.counts["template_status:not_cached"] += 1
            return
        name = value.get("message_template_name")
        language = value.get("message_template_language")
        templates = [
            {**t, "status": value.get("event", t.get("status"))}
            if t.get("name") == name and t.get("language") == language
            else t
            for t in cached.get("templates", [])
        ]
        self.s.inbox.update(key, {"templates": templates}, must_exist=True)
        self.counts["template_status:applied"] += 1

    def _preferences(self, value: dict[str, Any]) -> None:
        metadata = value.get("metadata") or {}
        sender = self._sender_for(metadata.get("phone_number_id"))
        sender_name = sender.name if sender else f"phone:{metadata.get('phone_number_id')}"
        for preference in value.get("user_preferences") or []:
            if preference.get("category") != "marketing_messages" or not preference.get("wa_id"):
                continue
            stop = preference.get("value") == "stop"
            self.s.inbox.update(
                contact_key(sender_name, str(preference["wa_id"])),
                {
                    "sender": sender_name,
                    "wa_id": str(preference["wa_id"]),
                    "marketing_opt_out": stop,
                },
                must_exist=False,
            )
            self.counts["preferences"] += 1

    # ---- helpers --------------------------------------------------------------------------------

    def _sender_for(self, phone_number_id: str | None) -> Sender | None:
        return next(
            (
                s
                for s in self._senders()
                if isinstance(s, CloudApiSender) and s.phone_number_id == phone_number_id
            ),
            None,
        )

    def _senders(self, *, read_after: float | None = None) -> list[Sender]:
        """All senders, read once a minute per process (a scan of a few items), or again when
        the last read was before `read_after`."""
        now = self.s.clock.now()
        cached = self.s.memo.get("senders")
        stale = cached is not None and (
            now - cached[0] > SENDER_CACHE_SECONDS
            or (read_after is not None and cached[0] <= read_after)
        )
        if cached is None or stale:
            cached = (now, self.s.senders.all())
            self.s.memo["senders"] = cached
        senders: list[Sender] = cached[1]
        return senders


def _belongs(message: Any, update: StatusUpdate) -> bool:
    if message.status is Status.SENDING:
        return True
    if message.status not in RECEIVING:
        return False
    return message.provider_message_id in (None, update.id)
