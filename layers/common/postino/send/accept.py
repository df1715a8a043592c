"""POST /v1/messages: validate against the sender, store, queue, and wake the drain."""

from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import StringConstraints, ValidationError

from postino import aws
from postino.drain import targets
from postino.errors import ErrorDetail, PostinoError, error_body, from_validation_errors, invalid
from postino.ids import new_message_id
from postino.links import sign_link, signing_key
from postino.messages.content import to_meta
from postino.messages.model import Message, Phase, Status, event
from postino.messages.personalise import personalise
from postino.messages.request import SendMessageRequest
from postino.model import Model
from postino.outbox import MAX_DELAY_SECONDS, QueuedRef
from postino.queueing import queued_ref
from postino.send.rules import check_conversation_rules
from postino.senders.model import Sender
from postino.services import Services
from postino.store.messages import DUE_PARTITION
from postino.store.own_writes import PutOnce

# A retried POST with the same Idempotency-Key within a day returns the first answer.
IDEMPOTENCY_CONFIG = IdempotencyConfig(
    event_key_jmespath="key",
    payload_validation_jmespath="request",
    expires_after_seconds=86_400,
    raise_on_no_idempotency_key=True,
)


NOT_QUEUED = PostinoError(
    "not_queued", "The queue did not take this message; nothing was stored: send it again.", 503
)

KEY_REUSED = PostinoError(
    "idempotency_key_reused",
    "This Idempotency-Key was already used with a different request; use a new key.",
    409,
)


class KeyedSend(Model):
    """What idempotency hashes: the key names the send, the request must match it."""

    key: str
    sender: str
    request: dict[str, Any]


@dataclass
class Accepted:
    """A message validated and built, not yet written: `copy` is what goes on its sender's
    queue (None: scheduled too far ahead for a queue delay, it waits in the due index)."""

    message: Message
    sender: Sender
    copy: QueuedRef | None
    delay: float


def accept_message(
    services: Services,
    request: SendMessageRequest,
    *,
    wake: bool = True,
    api_key_id: str | None = None,
) -> Message:
    """Store the message and put it on the queue (or schedule it). Nothing is sent here.

    `api_key_id`: the caller's key, named on the events this writes (None: Postino's own send).
    """
    accepted = prepare(services, request, api_key_id=api_key_id)
    if accepted.copy is not None:
        # SQS first: a copy whose message never got stored is dropped by the drain as an orphan.
        services.queues.for_sender(accepted.message.sender).put(accepted.copy, accepted.delay)
    store(services, accepted)
    if accepted.message.send_at is None and wake:
        targets.wake(services, accepted.message.sender, accepted.sender)
    return accepted.message


def prepare(
    services: Services,
    request: SendMessageRequest,
    *,
    api_key_id: str | None = None,
    senders: dict[str, Sender | None] | None = None,
) -> Accepted:
    """Check the message against its sender and build it, with its queue copy; writes nothing.

    `senders`: the senders a batch has read already, by name (a batch reads each one once)."""
    now = services.clock.now()
    known = senders if senders is not None else {}
    if request.sender not in known:
        known[request.sender] = services.senders.get(request.sender)
    sender = known[request.sender]
    if sender is None:
        raise invalid("sender", f"no sender named '{request.sender}'", code="unknown_sender")
    request = personalise(request, lambda asked: _signed_link(services, asked, now))
    content = to_meta(request.content)
    check_conversation_rules(services, sender, request, content)
    try:
        send_at = request.send_at_epoch(now)
    except ValueError as error:
        raise invalid("send_at", str(error)) from error
    message = Message(
        id=new_message_id(now),
        sender=request.sender,
        to=request.to,
        type=request.type,
        content=content,
        status=Status.QUEUED if send_at is None else Status.SCHEDULED,
        reference=request.reference,
        campaign=request.campaign,
        metadata=request.metadata,
        created_at=now,
        updated_at=now,
        send_at=send_at,
        valid_until=(send_at or now) + request.validity_seconds,
        validity_seconds=request.validity_seconds,
        at_least_once=request.at_least_once,
        events=[event(Phase.ACCEPTED, now, api_key_id=api_key_id)],
    )
    delay = 0.0 if send_at is None else send_at - now
    if delay > MAX_DELAY_SECONDS:
        # Too far for an SQS delay: the drain picks it up from the due index when its time nears.
        message.events.append(
            event(Phase.SCHEDULED, now, api_key_id=api_key_id, send_at=request.send_at)
        )
        return Accepted(message, sender, None, delay)
    message.queue_seq = 1
    message.events.append(
        event(Phase.SCHEDULED, now, api_key_id=api_key_id, send_at=request.send_at)
        if send_at is not None
        else event(Phase.QUEUED, now, api_key_id=api_key_id)
    )
    return Accepted(message, sender, queued_ref(message, 1, now + delay), delay)


def store(services: Services, accepted: Accepted) -> None:
    """Write the message: after its copy is on the queue (or in the due index, without one)."""
    if accepted.copy is None:
        services.messages.create(accepted.message, due_partition=DUE_PARTITION)
    else:
        services.messages.create(accepted.message)


def _signed_link(services: Services, request: SendMessageRequest, now: float) -> str:
    assert request.link is not None
    return sign_link(
        signing_key(services.settings.link_key_name),
        str(request.link.url),
        recipient=request.to,
        reference=request.reference,
        expires_at=int(now) + request.link.valid_seconds,
    )


def accept_keyed(
    services: Services,
    request: SendMessageRequest,
    key: str,
    *,
    wake: bool = True,
    api_key_id: str | None = None,
) -> Message:
    """accept_message, once per Idempotency-Key: a replay returns the first message."""
    keyed = KeyedSend(key=key, sender=request.sender, request=request.model_dump(mode="json"))
    accept_once: Any = _idempotent_accept(services)
    # The caller's key id stays out of what idempotency hashes: a replay gets the first answer.
    message: Message = accept_once(send=keyed, wake=wake, api_key_id=api_key_id)
    return message


class BatchItem(SendMessageRequest):
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class BatchResult(Model):
    index: int
    id: str | None = None
    status: Status | None = None
    error: ErrorDetail | None = None


def accept_batch(
    services: Services, items: list[dict[str, Any]], *, api_key_id: str | None = None
) -> list[BatchResult]:
    """Each item on its own: one bad item does not sink the others.

    The items' copies go on their senders' queues ten to a request (SendMessageBatch), then
    each message is stored: a batch of 100 costs 10 SQS requests, not 100. An item with an
    Idempotency-Key goes alone, through the keyed path.
    """
    results: dict[int, BatchResult] = {}
    prepared: list[tuple[int, Accepted]] = []
    woken: list[str] = []  # the senders with a message queued now
    senders: dict[str, Sender | None] = {}  # each read once for the whole batch

    def accepted(index: int, message: Message) -> None:
        results[index] = BatchResult(index=index, id=message.id, status=message.status)
        if message.status is Status.QUEUED:
            woken.append(message.sender)

    for index, raw in enumerate(items):
        try:
            item = BatchItem.model_validate(raw)
            request = SendMessageRequest.model_validate(
                item.model_dump(exclude={"idempotency_key"})
            )
            if item.idempotency_key:
                keyed = accept_keyed(
                    services, request, item.idempotency_key, wake=False, api_key_id=api_key_id
                )
                accepted(index, keyed)
            else:
                ready = prepare(services, request, api_key_id=api_key_id, senders=senders)
                prepared.append((index, ready))
        except ValidationError as error:
            problem = from_validation_errors(error.errors())
            results[index] = BatchResult(index=index, error=error_body(problem).error)
        except PostinoError as error:
            results[index] = BatchResult(index=index, error=error_body(error).error)
        except IdempotencyValidationError:
            results[index] = BatchResult(index=index, error=error_body(KEY_REUSED).error)
    refused = _enqueue(services, [ready for _, ready in prepared])
    for index, ready in prepared:
        if ready.message.id in refused:
            results[index] = BatchResult(index=index, error=error_body(NOT_QUEUED).error)
        else:
            store(services, ready)
            accepted(index, ready.message)
    for sender in dict.fromkeys(woken):
        wake_drain(services, sender)
    return [results[index] for index in range(len(items))]


def _enqueue(services: Services, ready: list[Accepted]) -> set[str]:
    """The copies on their senders' queues, ten to a request: the ids of the messages whose
    copy SQS refused (they are not stored: a message without a copy would never go)."""
    by_sender: dict[str, list[tuple[QueuedRef, float]]] = {}
    for accepted in ready:
        if accepted.copy is not None:
            by_sender.setdefault(accepted.message.sender, []).append(
                (accepted.copy, accepted.delay)
            )
    refused: set[str] = set()
    for sender, copies in by_sender.items():
        refused |= services.queues.for_sender(sender).put_many(copies)
    return refused


def wake_drain(services: Services, sender: str) -> None:
    """Nudge the sender's drainers now instead of at the next minute's schedule."""
    targets.wake(services, sender)


def _idempotent_accept(services: Services) -> Any:
    accepter = services.memo.get("accept_keyed")
    if accepter is None:
        persistence = DynamoDBPersistenceLayer(
            table_name=services.settings.idempotency_table,
            boto3_client=PutOnce(aws.dynamodb()),  # type: ignore[arg-type]
        )

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="send",
            persistence_store=persistence,
            config=IDEMPOTENCY_CONFIG,
            output_serializer=PydanticSerializer(Message),
        )
        def accept_keyed_send(*, send: KeyedSend, wake: bool, api_key_id: str | None) -> Message:
            return accept_message(
                services,
                SendMessageRequest.model_validate(send.request),
                wake=wake,
                api_key_id=api_key_id,
            )

        accepter = services.memo["accept_keyed"] = accept_keyed_send
    return accepter
