"""The Meta sandbox: the Graph API peer, plus what Meta does after a send.

It checks every request against Meta's published schema (the peer does), then calls the local
webhook with signed status webhooks in Meta's shape: sent, delivered, read, with small delays.
Numbers ending in 0000 fail with 131026 (undeliverable), numbers ending in 0001 with 131047
(the 24-hour window). It lists a few approved templates, plays a customer writing in
(POST /_sandbox/inbound), takes faults (POST /_sandbox/faults) and shows what it received
(GET /_sandbox/requests, a send with the wamid it was answered with) and each try of each status
webhook it delivered (GET /_sandbox/webhooks). It also sets the local stack's AWS faults (POST,
GET and DELETE /_sandbox/aws-faults; local/aws_faults.py): the sandbox lives in the process that
serves moto.

Faults may also ask for Meta's worst webhook habits (`make soak` does): `status_copies` (each
status webhook delivered that many times) and `shuffle_statuses` (delivered in random order,
each at a random moment over the statuses' span, while each keeps the time it happened).
A status webhook our route refuses (anything but a 200) is tried again, as Meta does.
"""

import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from local.aws_faults import AwsFaults, sandbox_answer
from local.graph_api_errors import graph_error
from local.graph_api_peer import Fault, GraphApiPeer
from local.peer_http import ReceivedRequest
from postino.observability import mask_phone
from postino.webhooks.signature import sign

STATUS_DELAYS = (("sent", 0.2), ("delivered", 0.5), ("read", 1.0))
# Meta retries failed webhook deliveries (with backoff, for days): a status webhook that did not
# get a 200 is tried again after each of these pauses, six tries over some four minutes here.
RETRY_PAUSES = (1.0, 5.0, 15.0, 60.0, 120.0)
# How long a try waits for its answer: longer than the webhook function's own timeout (25 s),
# so only a stack that never answers counts as no answer. Meta does not publish its wait.
WEBHOOK_TIMEOUT_SECONDS = 30.0
# How many status webhooks are out at once: a sender of webhooks paces one endpoint. A status
# waits for a slot before its try begins, so the wait is not timed as the try's. Without it,
# a burst of a thousand sends put a thousand webhooks at the local function URL at once (it has
# a few environments on one machine, where Lambda adds more): each queued past its 30 s, was
# counted unanswered and sent again, and the load fed on itself. Twice the function URL's
# environments (local/run.py) keeps it busy without a queue longer than one invocation.
WEBHOOK_SENDERS = 8
FAILURES = {"0000": 131026, "0001": 131047}
FAILURE_TEXT = {
    131026: "Message undeliverable",
    131047: "Re-engagement message",
}
TEMPLATES = [
    {
        "name": "hello_world",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1192339204654487",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
            {"type": "BODY", "text": "Welcome and congratulations!! This message is from Postino."},
        ],
    },
    {
        "name": "booking_reminder",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1192339204654488",
        "components": [{"type": "BODY", "text": "Hi {{1}}, see you on {{2}} at {{3}}."}],
    },
    {
        "name": "wedding_invitation",
        "language": "it",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1192339204654490",
        "components": [
            {
                "type": "BODY",
                "text": "Ciao {{1}}! Sara e Marco si sposano il 12 giugno. Il tuo tavolo: {{2}}. "
                "Conferma qui: {{3}}",
            }
        ],
    },
    {
        "name": "reservation_request",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1192339204654489",
        "components": [{"type": "BODY", "text": "Request {{1}} from {{2}} ({{3}}): {{4}}"}],
    },
]


# The bytes of a customer's photo (a JPEG's markers around nothing much): small on purpose.
SANDBOX_PHOTO = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"postino sandbox photo"


class MetaSandbox(GraphApiPeer):
    def __init__(
        self,
        *,
        webhook_url: str,
        app_secret: str,
        phone_number_id: str,
        waba_id: str,
        port: int,
        host: str = "127.0.0.1",
        on_event: Callable[[str], None] | None = None,
        aws_faults: AwsFaults | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.aws_faults = aws_faults
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.templates[waba_id] = [dict(t) for t in TEMPLATES]
        self.on_event = on_event or (lambda line: None)
        self.webhook_timeout = WEBHOOK_TIMEOUT_SECONDS
        self._webhook_slots = threading.BoundedSemaphore(WEBHOOK_SENDERS)
        self._http = httpx.Client(limits=httpx.Limits(max_connections=WEBHOOK_SENDERS))
        self.status_copies = 1
        self.shuffle_statuses = False
        self._shuffler = random.Random(0)
        self.retry_pauses: tuple[float, ...] = RETRY_PAUSES
        # Every status webhook attempt, and the sends whose statuses are still going out; the
        # deliveries run in threads of their own.
        self._deliveries: list[dict[str, Any]] = []
        self._delivering = 0
        self._deliveries_lock = threading.Lock()

    def latency_for(self, path: str) -> float:
        """Injected latency slows Meta's routes, not the sandbox's own."""
        return 0.0 if path.startswith("/_sandbox/") else self.latency

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, list[str], Fault | None]:
        route = urlsplit(path).path
        if route.startswith("/_sandbox/"):
            return self._sandbox(method, route, raw)
        status, response, problems, fault = super().answer(method, path, headers, raw)
        wamid = _wamid(response)
        if status == 200 and method == "POST" and wamid is not None:
            body = json.loads(raw)
            phone_number_id = route.strip("/").split("/")[1]
            with self._deliveries_lock:
                self._delivering += 1
            threading.Thread(
                target=self._after_send,
                args=(body, wamid, phone_number_id),
                daemon=True,
            ).start()
        return status, response, problems, fault

    # ---- what Meta does after accepting a send ------------------------------------------------

    def _after_send(self, body: dict[str, Any], wamid: str, phone_number_id: str) -> None:
        try:
            self._send_statuses(body, wamid, phone_number_id)
        finally:
            with self._deliveries_lock:
                self._delivering -= 1

    def _send_statuses(self, body: dict[str, Any], wamid: str, phone_number_id: str) -> None:
        to = str(body["to"]).lstrip("+")
        code = next((c for end, c in FAILURES.items() if to.endswith(end)), None)
        plan: tuple[tuple[str, float], ...] = STATUS_DELAYS
        if code == 131026:
            plan = (("sent", 0.2), ("failed", 0.5))
        elif code == 131047:
            plan = (("failed", 0.3),)
        began, offset = time.time(), 0.0
        happened: list[tuple[float, str, dict[str, Any]]] = []
        for name, delay in plan:
            offset += delay
            status = self._status(body, wamid, to, name, code, began + offset)
            happened.append((offset, name, self._value({"statuses": [status]}, phone_number_id)))
        for offset, name, notification in self._delivery_plan(happened):
            time.sleep(max(began + offset - time.time(), 0.0))
            answered = self._deliver_status(notification, wamid, name)
            refused = "" if answered == 200 else f" (refused: {answered}, given up)"
            self.on_event(f"sandbox   {name:<9} {wamid[-12:]} → +{mask_phone(to)}{refused}")

    def _deliver_status(self, notification: dict[str, Any], wamid: str, name: str) -> int:
        """Deliver a status webhook, again after each pause until a 200, recording each try. The
        send's later statuses wait behind the retries: they share this thread."""
        status = 0
        for attempt, pause in enumerate((0.0, *self.retry_pauses), 1):
            time.sleep(pause)
            at = self.clock()
            status = self.deliver(notification)
            tried = {"wamid": wamid, "status": name, "http_status": status, "attempt": attempt}
            with self._deliveries_lock:
                self._deliveries.append(tried | {"at": at})
            if status == 200:
                break
        return status

    def webhook_deliveries(self) -> dict[str, Any]:
        """Every status webhook attempt so far; `delivering`: the sends whose statuses (or their
        retries) are still to go out."""
        with self._deliveries_lock:
            return {"deliveries": list(self._deliveries), "delivering": self._delivering}

    def _delivery_plan(
        self, happened: list[tuple[float, str, dict[str, Any]]]
    ) -> list[tuple[float, str, dict[str, Any]]]:
        """When each status webhook goes out: as it happens, or copied and shuffled."""
        copies = [h for h in happened for _ in range(self.status_copies)]
        if not self.shuffle_statuses:
            return copies
        first, last = happened[0][0], happened[-1][0]
        return sorted(
            ((self._shuffler.uniform(first, last), name, n) for _, name, n in copies),
            key=lambda planned: planned[0],
        )

    def _status(
        self, body: dict[str, Any], wamid: str, to: str, name: str, code: int | None, at: float
    ) -> dict[str, Any]:
        status: dict[str, Any] = {
            "id": wamid,
            "status": name,
            "timestamp": str(int(at)),
            "recipient_id": to,
        }
        if "biz_opaque_callback_data" in body:
            status["biz_opaque_callback_data"] = body["biz_opaque_callback_data"]
        if name in ("sent", "delivered"):
            status["conversation"] = {
                "id": "CONVERSATION_" + wamid[-8:],
                "origin": {"type": "utility"},
            }
            status["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "category": "utility",
            }
        if name == "failed" and code is not None:
            status["errors"] = [
                {
                    "code": code,
                    "title": FAILURE_TEXT[code],
                    "message": FAILURE_TEXT[code],
                    "error_data": {"details": f"Sandbox: numbers ending in {to[-4:]} fail"},
                }
            ]
        return status

    # ---- the sandbox's own routes ---------------------------------------------------------------

    def _sandbox(self, method: str, route: str, raw: bytes) -> tuple[int, Any, list[str], None]:
        if route == "/_sandbox/aws-faults" and self.aws_faults is not None:
            status, answer = sandbox_answer(self.aws_faults, method, raw)
            if status == 200 and method != "GET":
                rules = len(self.aws_faults.report()["plan"]["rules"])
                self.on_event(f"sandbox   AWS faults: {rules} rule(s) in force")
            return status, answer, [], None
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, graph_error(100, "The body is not JSON."), [], None
        if method == "POST" and route == "/_sandbox/inbound":
            return self._inbound(body)
        if method == "POST" and route == "/_sandbox/faults":
            if "latency" in body:
                self.latency = float(body.pop("latency"))
            if "status_copies" in body:
                self.status_copies = max(int(body.pop("status_copies")), 1)
            if "shuffle_statuses" in body:
                self.shuffle_statuses = bool(body.pop("shuffle_statuses"))
            if body:
                self.add_fault(Fault(**body))
            return 200, {"ok": True}, [], None
        if method == "GET" and route == "/_sandbox/requests":
            return 200, {"requests": [_shown(r) for r in self.requests]}, [], None
        if method == "GET" and route == "/_sandbox/webhooks":
            return 200, self.webhook_deliveries(), [], None
        return 404, graph_error(100, f"No sandbox route {method} {route}"), [], None

    def _inbound(self, body: dict[str, Any]) -> tuple[int, Any, list[str], None]:
        sender = str(body.get("from", "")).lstrip("+").replace(" ", "")
        text = body.get("text")
        image = bool(body.get("image"))  # a photo (the text, if any, its caption)
        if not sender.isdigit() or not isinstance(text or "", str) or not (text or image):
            return 400, graph_error(100, 'Give {"from": "<digits>", "text": "..."}'), [], None
        text = str(text or "")
        wamid = "wamid.HBgM" + secrets.token_urlsafe(24)
        message: dict[str, Any] = {
            "from": sender,
            "id": wamid,
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": text},
        }
        if image:
            photo = SANDBOX_PHOTO + secrets.token_bytes(16)
            media_id = self.add_media(photo, "image/jpeg")
            message = {k: v for k, v in message.items() if k != "text"} | {
                "type": "image",
                "image": {"id": media_id, "mime_type": "image/jpeg"}
                | ({"caption": text} if text else {}),
            }
        contact = {"profile": {"name": body.get("name") or "Sandbox customer"}, "wa_id": sender}
        status = self.deliver(
            self._value({"contacts": [contact], "messages": [message]}, self.phone_number_id)
        )
        # Numbers and bodies are masked in what the stack prints, as in the functions' logs.
        self.on_event(f"sandbox   inbound   +{mask_phone(sender)}: {len(text)} characters")
        return 200, {"wamid": wamid, "webhook_status": status}, [], None

    def _value(self, part: dict[str, Any], phone_number_id: str) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": next(iter(self.templates)),
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550000001",
                                    "phone_number_id": phone_number_id,
                                },
                                **part,
                            },
                        }
                    ],
                }
            ],
        }

    def deliver(self, notification: dict[str, Any]) -> int:
        """POST a notification to the webhook, signed as Meta signs it; the HTTP status back."""
        raw = json.dumps(notification, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(raw, self.app_secret),
        }
        with self._webhook_slots:
            try:
                return self._http.post(
                    self.webhook_url, content=raw, headers=headers, timeout=self.webhook_timeout
                ).status_code
            except httpx.HTTPError:
                return 0


def _shown(request: ReceivedRequest) -> dict[str, Any]:
    return {
        "at": request.received_at,
        "method": request.method,
        "path": request.path,
        "status": request.status,
        "body": request.body,
        "problems": request.problems,
        "wamid": _wamid(request.response),
    }


def _wamid(response: Any) -> str | None:
    """The wamid a send was answered with; None for any other answer."""
    sent = response.get("messages") if isinstance(response, dict) else None
    return str(sent[0]["id"]) if sent else None
