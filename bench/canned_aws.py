"""A canned AWS for the drain's CPU figure: recorded answers, replayed at once, in its own process.

The drain's own CPU per message cannot be read against moto, whose cost (its own botocore
parsing, its DynamoDB) lands in the same figures. Here the answers are recorded once: a tiny
real drain runs against moto (in this child process, never in the bench's), and a hook on
botocore keeps each operation's HTTP answer. The server then replays them over the JSON
protocols botocore speaks to DynamoDB (`X-Amz-Target: DynamoDB_20120810.*`), SQS
(`AmazonSQS.*`) and Secrets Manager (`secretsmanager.*`):

- ReceiveMessage hands out up to `supply N` outbox references (the recorded body with a fresh
  message id, recipient hash and receipt handle, MD5 of the body as SQS computes it), then
  answers empty, after the long poll's wait as SQS would;
- the messages table's UpdateItem answers with the item recorded for the status it sets
  (`sending` for the claim, `sent` for the outcome), its id, recipient and claim rewritten to
  the message asked for; every other recorded operation (the lease, the rate window's
  PutItem, the senders' GetItem and Scan, the due Query, the token) answers as recorded;
- DeleteMessageBatch answers each entry asked for as deleted;
- SendMessage (a copy put back to wait, or given back after a missed slot) answers as SQS
  does, and ReceiveMessage hands the copy out again once its delay is over;
- a message status no recorded drain set (`queued`, a requeue) answers with the claim's item
  in that status;
- anything never recorded answers a 400 and is counted (`counts` shows it as `unrecorded`).

Meta's Cloud API is answered here too (a POST without X-Amz-Target): 200 with a fresh wamid,
at once.

    python -m bench.canned_aws [LIMIT]   # records (a few seconds; its sender sends at most
                                         # LIMIT a second), prints `ready <url>`, then takes:
      env        -> the recorded stack's settings and token (one JSON line)
      supply N   -> N fresh messages to hand out; request counts start again from zero
      counts     -> requests served since the last supply, by operation (one JSON line)
"""

import base64
import hashlib
import json
import re
import secrets
import sys
import threading
import time
import uuid
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

SENDER = "canned"
# Meta's default for a number (80 a second); `python -m bench.canned_aws LIMIT` for another.
SENDER_LIMIT_PER_SECOND = 80
RECORDED_MESSAGES = 12
JSON_10 = "application/x-amz-json-1.0"
MESSAGES_UPDATE = "dynamodb:UpdateItem:messages:"


@dataclass
class Answer:
    status: int
    body: str
    content_type: str = JSON_10


@dataclass
class Recording:
    """Recorded answers by kind (see `kind`), and what the replay needs to rewrite them."""

    answers: dict[str, Answer]
    tables: dict[str, str]  # table name -> role (messages, senders, rate_window)
    queue_message: dict[str, Any]  # one recorded ReceiveMessage entry, the template of all
    settings: dict[str, Any] = field(default_factory=dict)
    token: str = ""


def operation_of(target: str) -> tuple[str, str]:
    """(service, operation) from an X-Amz-Target header: `DynamoDB_20120810.UpdateItem` →
    (dynamodb, UpdateItem), `AmazonSQS.ReceiveMessage` → (sqs, ReceiveMessage)."""
    prefix, _, operation = target.partition(".")
    service = {"dynamodb_20120810": "dynamodb", "amazonsqs": "sqs", "awsevents": "events"}.get(
        prefix.lower(), prefix.lower()
    )
    return service, operation


def _status_set(request: dict[str, Any]) -> str:
    """The status an UpdateItem sets (`#status = :vN` in its expression), or ''."""
    names = request.get("ExpressionAttributeNames", {})
    placeholder = next((p for p, name in names.items() if name == "status"), None)
    if placeholder is None:
        return ""
    found = re.search(rf"{re.escape(placeholder)} = (:\w+)", request.get("UpdateExpression", ""))
    value = request.get("ExpressionAttributeValues", {}).get(found.group(1)) if found else None
    return str(value.get("S", "")) if value else ""


def kind(service: str, operation: str, request: dict[str, Any], tables: dict[str, str]) -> str:
    """What a request is, as far as its answer goes: `dynamodb:UpdateItem:messages:sending`."""
    if service != "dynamodb":
        return f"{service}:{operation}"
    role = tables.get(request.get("TableName", ""), "other")
    name = f"dynamodb:{operation}:{role}"
    if operation == "UpdateItem" and role == "messages":
        name += f":{_status_set(request)}"
    return name


@dataclass
class _Supplied:
    to: str
    sqs_message_id: str


class CannedAws:
    """The canned endpoint: a threaded HTTP server replaying a Recording."""

    def __init__(self, recording: Recording, host: str = "127.0.0.1", port: int = 0) -> None:
        from local.http_server import LocalHttpServer

        self.recording = recording
        self._lock = threading.Lock()
        self._remaining = 0
        self._next = 0
        self._supplied: dict[str, _Supplied] = {}
        self._put_back_bodies: list[tuple[float, str]] = []  # (visible at, body)
        self._counts: Counter[str] = Counter()
        self._writes: Counter[str] = Counter()  # DynamoDB item writes, by table and key
        self._server = LocalHttpServer((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None
        self._ref = json.loads(recording.queue_message["Body"])
        self._to_template = _message_to(recording)
        updates = {n: a for n, a in recording.answers.items() if n.startswith(MESSAGES_UPDATE)}
        # Updates answered without the item (ReturnValues NONE, or refused): as recorded.
        self._without_item = {name for name, answer in updates.items() if not _holds_item(answer)}
        # The recorded messages' own values, rewritten in each replayed message item.
        self._templates = {
            name: (answer, _item_values(answer.body))
            for name, answer in updates.items()
            if answer.status == 200 and name not in self._without_item
        }

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "CannedAws":
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def supply(self, count: int) -> str:
        """Hand out `count` fresh messages from now on; the counts start again."""
        with self._lock:
            self._remaining = count
            self._put_back_bodies.clear()
            self._counts.clear()
            self._writes.clear()
        return f"{count} to hand out"

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def hottest(self, top: int = 3) -> list[tuple[str, int]]:
        """The items written most since the last supply: "table key", writes."""
        with self._lock:
            return self._writes.most_common(top)

    # ---- answers ------------------------------------------------------------------------

    def answer(self, target: str, raw: bytes) -> Answer:
        service, operation = operation_of(target)
        request = json.loads(raw) if raw else {}
        name = kind(service, operation, request, self.recording.tables)
        with self._lock:
            self._counts[f"{service}:{operation}"] += 1
            if operation in ITEM_WRITES:
                self._writes[_written_item(request)] += 1
        if name == "sqs:ReceiveMessage":
            return self._receive(request)
        if name == "sqs:DeleteMessageBatch":
            entries = [{"Id": e["Id"]} for e in request.get("Entries", [])]
            return Answer(200, json.dumps({"Successful": entries}))
        if name == "sqs:SendMessage":
            return self._put_back(request)
        if name.startswith(MESSAGES_UPDATE):
            return self._message_item(name, request)
        recorded = self.recording.answers.get(name)
        if recorded is None:
            with self._lock:
                self._counts[f"unrecorded {name}"] += 1
            body = {"__type": "com.amazon.coral.validate#ValidationException",
                    "message": f"canned_aws: nothing recorded for {name}"}  # fmt: skip
            return Answer(400, json.dumps(body))
        return recorded

    def graph_send(self, raw: bytes) -> Answer:
        """Meta's answer to a message send, as its documentation shows it."""
        to = json.loads(raw)["to"]
        with self._lock:
            self._counts["graph:POST messages"] += 1
        wamid = "wamid." + base64.b64encode(f"{to}{secrets.token_hex(9)}".encode()).decode()
        body = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}]}  # fmt: skip
        return Answer(200, json.dumps(body), "application/json")

    def _receive(self, request: dict[str, Any]) -> Answer:
        most = int(request.get("MaxNumberOfMessages", 1))
        # SQS's long poll: an empty answer only once the wait is over.
        deadline = time.monotonic() + int(request.get("WaitTimeSeconds", 0))
        while True:
            with self._lock:
                now = time.time()
                due = [copy for copy in self._put_back_bodies if copy[0] <= now][:most]
                for copy in due:
                    self._put_back_bodies.remove(copy)
                bodies = [body for _, body in due]
                count = min(most - len(bodies), self._remaining)
                self._remaining -= count
                numbers = range(self._next, self._next + count)
                self._next += count
            if bodies or count or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        messages = [self._queue_message(body) for body in bodies]
        messages += [self._queue_message(self._fresh_body(n)) for n in numbers]
        return Answer(200, json.dumps({"Messages": messages} if messages else {}))

    def _fresh_body(self, number: int) -> str:
        from postino.outbox import recipient_hash

        message_id = f"{int(time.time() * 1000):012x}{number:020x}"
        to = f"{self._to_template[:-7]}{number % 10**7:07d}"
        with self._lock:
            self._supplied[message_id] = _Supplied(to, "")
        return json.dumps(
            {**self._ref, "id": message_id, "pair": recipient_hash(to), "visible_at": time.time()}
        )

    def _put_back(self, request: dict[str, Any]) -> Answer:
        """SendMessage: a copy put back (to wait, or given back) comes back after its delay."""
        body = request["MessageBody"]
        with self._lock:
            self._put_back_bodies.append((time.time() + int(request.get("DelaySeconds", 0)), body))
        md5 = hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's checksum
        return Answer(200, json.dumps({"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": md5}))

    def _queue_message(self, body: str) -> dict[str, Any]:
        sqs_message_id = str(uuid.uuid4())
        message_id = json.loads(body)["id"]
        with self._lock:
            supplied = self._supplied.get(message_id)
            if supplied is not None:
                supplied.sqs_message_id = sqs_message_id
        receipt = self.recording.queue_message["ReceiptHandle"]
        return {
            **self.recording.queue_message,
            "MessageId": sqs_message_id,
            # As long as the recorded one, unique: SQS's are opaque strings of a few hundred.
            "ReceiptHandle": (secrets.token_urlsafe(len(receipt)))[: len(receipt)],
            "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's checksum
            "Body": body,
        }

    def _message_item(self, name: str, request: dict[str, Any]) -> Answer:
        if name in self._without_item:
            return self.recording.answers[name]  # nothing to rewrite
        if name not in self._templates:
            # A status no recorded drain set (a requeue: `queued`): the claim's item, so set.
            answer, values = self._templates[f"{MESSAGES_UPDATE}sending"]
            item = json.loads(answer.body)
            item["Attributes"]["status"] = {"S": name.removeprefix(MESSAGES_UPDATE)}
            with self._lock:
                self._templates[name] = (Answer(200, json.dumps(item)), values)
        answer, (old_id, old_to, old_claim) = self._templates[name]
        message_id = request["Key"]["id"]["S"]
        with self._lock:
            supplied = self._supplied.get(message_id)
        body = answer.body.replace(old_id, message_id)
        if supplied is not None:
            body = body.replace(old_to, supplied.to)
            if old_claim and supplied.sqs_message_id:
                body = body.replace(old_claim, supplied.sqs_message_id)
        return Answer(answer.status, body, answer.content_type)


def _holds_item(answer: Answer) -> bool:
    return "Attributes" in json.loads(answer.body)


def _item_values(body: str) -> tuple[str, str, str]:
    item = json.loads(body)["Attributes"]
    return item["id"]["S"], item["to"]["S"], item.get("claimed_by", {}).get("S", "")


def _message_to(recording: Recording) -> str:
    for name, answer in recording.answers.items():
        if name.startswith(MESSAGES_UPDATE) and answer.status == 200 and _holds_item(answer):
            return _item_values(answer.body)[1]
    raise ValueError("the recording holds no message item")


def _handler_for(canned: CannedAws) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: with Nagle's algorithm the body would wait
        # for the client's delayed ACK of the headers (40 ms a request on Linux).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target")
            # No target: Meta's Cloud API, POST /{version}/{phone-number-id}/messages.
            answer = canned.graph_send(raw) if target is None else canned.answer(target, raw)
            data = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            if target is not None:
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.send_header("x-amz-crc32", str(zlib.crc32(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


# ---- recording --------------------------------------------------------------------------------


@contextmanager
def _capturing(exchanges: list[tuple[str, str, dict[str, Any], Answer]]) -> Iterator[None]:
    """Keep every (service, operation, request, answer) botocore makes in the block."""
    from botocore.endpoint import Endpoint

    original = Endpoint.make_request

    def kept(endpoint: Endpoint, operation: Any, request: Any) -> Any:
        http, parsed = original(endpoint, operation, request)
        service = operation.service_model.endpoint_prefix
        body = request.get("body") or b"{}"
        exchanges.append(
            (
                {"secretsmanager": "secretsmanager"}.get(service, service),
                operation.name,
                json.loads(body),
                Answer(
                    http.status_code,
                    http.content.decode(),
                    http.headers.get("Content-Type", JSON_10),
                ),
            )
        )
        return http, parsed

    Endpoint.make_request = kept  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Endpoint.make_request = original  # type: ignore[method-assign]


def record(limit: int, messages: int = RECORDED_MESSAGES) -> Recording:
    """A tiny real drain against moto (bench/aws_requests.py's stack): its answers, by kind."""
    from bench.aws_requests import Tally, stack
    from postino import aws
    from postino.drain.drainer import Drainer
    from postino.drain.targets import DrainTarget
    from postino.outbox import SenderQueues
    from postino.senders.model import CloudApiSender, Limit
    from tests.support.events import FakeLambdaContext, as_http, rest_event
    from tests.support.functions import load_function
    from tests.support.webhooks import PHONE_NUMBER_ID

    exchanges: list[tuple[str, str, dict[str, Any], Answer]] = []
    with stack(Tally(counting=False)) as (services, _):
        settings = services.settings
        services.senders.put(
            CloudApiSender(
                name=SENDER,
                phone_number_id=PHONE_NUMBER_ID,
                access_token_secret=settings.default_access_token_secret,
                limits=[Limit(max=limit, per_seconds=1)],
                enforce_service_window=False,
                updated_at=time.time(),
            )
        )
        send = load_function("send")
        for n in range(messages):
            body = {"to": f"+39333{n:07d}", "sender": SENDER, "type": "text",
                    "text": {"body": f"Ciao {n}, a presto!"}}  # fmt: skip
            answer = as_http(
                send.lambda_handler(rest_event("POST", "/v1/messages", body), FakeLambdaContext())
            )
            if answer.status != 202:
                raise RuntimeError(f"accept answered {answer.status}: {answer.body}")
        token = aws.secret(settings.default_access_token_secret, max_age=0)
        # The drain fetches the token and looks its queue up itself, as a fresh process would.
        aws.reset_clients()
        services.queues = SenderQueues(
            settings.sender_queue_prefix, settings.outbound_dead_letter_arn
        )
        with _capturing(exchanges):
            report = Drainer(services, DrainTarget(SENDER)).run(time.time() + 30)
        if report.sent != messages:
            raise RuntimeError(f"the recording drain sent {report.sent} of {messages}")
        tables = {
            settings.messages_table: "messages",
            settings.senders_table: "senders",
            settings.rate_window_table: "rate_window",
        }
        answers: dict[str, Answer] = {}
        queue_message: dict[str, Any] | None = None
        for service, operation, request, kept in exchanges:
            name = kind(service, operation, request, tables)
            if name == "sqs:ReceiveMessage" and queue_message is None:
                queue_message = (json.loads(kept.body).get("Messages") or [None])[0]
            # The first success of each kind (a failed condition only if nothing else came).
            if name not in answers or (answers[name].status != 200 and kept.status == 200):
                answers[name] = kept
        if queue_message is None:
            raise RuntimeError("the recording drain received nothing")
        return Recording(answers, tables, queue_message, settings.model_dump(mode="json"), token)


# DynamoDB operations that write one item, and the tables' key attributes (template.yaml).
ITEM_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
KEY_ATTRIBUTES = ("id", "key", "name")


def _written_item(request: dict[str, Any]) -> str:
    """The table and key of the item a write request writes."""
    item = request.get("Key") or request.get("Item") or {}
    key: Any = next((item[a] for a in KEY_ATTRIBUTES if a in item), {})
    value = next(iter(key.values()), "?") if isinstance(key, dict) else "?"
    return f"{request.get('TableName', '?')} {value}"


def _serve() -> None:
    # The handlers print (EMF metrics, logs) to stdout: the parent reads only our lines.
    protocol, sys.stdout = sys.stdout, open("/dev/null", "w")  # noqa: SIM115 - for the process
    warnings.simplefilter("ignore")  # Powertools' empty-metrics warning of the recording
    from bench.aws_requests import prepare

    prepare()
    recording = record(int(sys.argv[1]) if len(sys.argv) > 1 else SENDER_LIMIT_PER_SECOND)
    canned = CannedAws(recording).start()

    def say(line: str) -> None:
        protocol.write(line + "\n")
        protocol.flush()

    say(f"ready {canned.url}")
    commands: dict[str, Callable[[list[str]], str]] = {
        "env": lambda _: json.dumps({"settings": recording.settings, "token": recording.token,
                                     "sender": SENDER, "recorded": sorted(recording.answers)}),
        "supply": lambda args: canned.supply(int(args[0])),
        "counts": lambda _: json.dumps(canned.counts()),
        "hottest": lambda _: json.dumps(canned.hottest()),
    }  # fmt: skip
    for line in sys.stdin:
        command, *args = line.split()
        say(commands[command](args) if command in commands else "")
    canned.stop()


if __name__ == "__main__":
    _serve()
