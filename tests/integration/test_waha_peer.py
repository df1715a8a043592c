"""The WAHA fake and WAHA's contract: what the far end of our WAHA provider accepts, answers
and sends back, checked against WAHA's published OpenAPI description."""

import base64
import json
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from local.waha_contract import WahaContract, spec_path
from local.waha_peer import WahaFault, WahaPeer
from postino.webhooks import waha_signature
from tests.support.prerequisites import require_contract

API_KEY = "fake-waha-key"
HMAC_KEY = "fake-waha-hmac"
KEYED = {"X-Api-Key": API_KEY}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GUEST = "393331234567"
GROUP = "120363012345678901@g.us"
# Acks quickly, so a test waits a fraction of a second for the whole sequence.
QUICK_ACKS = ((1, 0.02), (2, 0.05), (3, 0.08))


@dataclass
class Delivery:
    headers: dict[str, str]
    raw: bytes

    @property
    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.raw)
        return body


@dataclass
class Receiver:
    """A tiny webhook receiver: records what the fake delivers and answers 200."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 3.0) -> list[Delivery]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return list(self.deliveries)

    def of(self, event: str) -> list[dict[str, Any]]:
        return [d.envelope for d in self.deliveries if d.envelope["event"] == event]


@pytest.fixture
def contract() -> WahaContract:
    require_contract(spec_path())
    return WahaContract.load()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with received.arrived:
                received.deliveries.append(Delivery(dict(self.headers.items()), raw))
                received.arrived.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/waha"
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake(contract: WahaContract, receiver: Receiver) -> Iterator[WahaPeer]:
    """A keyed WAHA fake with one working session, delivering webhooks to the receiver."""
    with WahaPeer(
        api_key=API_KEY,
        webhook_url=receiver.url,
        hmac_key=HMAC_KEY,
        contract=contract,
        ack_delays=QUICK_ACKS,
    ) as peer:
        peer.add_session("groom", phone="393470000001", push_name="Marco")
        yield peer


@pytest.fixture
def http(fake: WahaPeer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, headers=KEYED, timeout=5.0) as client:
        yield client


def text_to(chat: str, session: str = "groom") -> dict[str, Any]:
    return {"chatId": chat, "text": "Ciao", "session": session}


def wait_for_status(peer: WahaPeer, name: str, status: str) -> None:
    deadline = time.monotonic() + 2.0
    while peer.session_status(name) != status and time.monotonic() < deadline:
        time.sleep(0.02)
    assert peer.session_status(name) == status


# ---- the contract --------------------------------------------------------------------------

CORRECT_REQUESTS = [
    ("POST", "/api/sendText", text_to(f"{GUEST}@c.us")),
    (
        "POST",
        "/api/sendImage",
        {
            "chatId": f"{GUEST}@c.us",
            "file": {"mimetype": "image/jpeg", "url": "https://example.com/a.jpg"},
            "caption": "Guarda",
            "session": "groom",
        },
    ),
    (
        "POST",
        "/api/sendFile",
        {
            "chatId": GROUP,
            "file": {"mimetype": "application/pdf", "url": "https://x/a.pdf", "filename": "a.pdf"},
            "session": "groom",
        },
    ),
    ("POST", "/api/sendSeen", {"chatId": f"{GUEST}@c.us", "session": "groom"}),
    ("POST", "/api/startTyping", {"chatId": f"{GUEST}@c.us", "session": "groom"}),
    ("POST", "/api/stopTyping", {"chatId": f"{GUEST}@c.us", "session": "groom"}),
    ("GET", "/api/sessions/groom", None),
    ("POST", "/api/sessions/groom/start", None),
    ("POST", "/api/sessions/groom/stop", None),
    ("POST", "/api/sessions/groom/restart", None),
    ("POST", "/api/sessions/groom/logout", None),
    ("GET", "/api/groom/auth/qr?format=image", None),
    ("GET", "/api/groom/auth/qr?format=raw", None),
]


@pytest.mark.parametrize(("method", "path", "body"), CORRECT_REQUESTS)
def test_the_contract_accepts_each_request_we_send(
    contract: WahaContract, method: str, path: str, body: Any
) -> None:
    assert contract.check_request(method, path, {"x-api-key": API_KEY}, body) == []


NEAR_MISSES = [
    ("misspelt field", "/api/sendText", {"chatID": f"{GUEST}@c.us", "text": "a", "session": "s"}),
    ("missing session", "/api/sendText", {"chatId": f"{GUEST}@c.us", "text": "a"}),
    ("text as a number", "/api/sendText", {"chatId": f"{GUEST}@c.us", "text": 7, "session": "s"}),
    (
        "link instead of url",
        "/api/sendImage",
        {"chatId": f"{GUEST}@c.us", "file": {"mimetype": "image/png", "link": "x"}, "session": "s"},
    ),
]


@pytest.mark.parametrize(("case", "path", "body"), NEAR_MISSES, ids=[n[0] for n in NEAR_MISSES])
def test_the_contract_refuses_near_misses(
    contract: WahaContract, case: str, path: str, body: Any
) -> None:
    problems = contract.check_request("POST", path, {"x-api-key": API_KEY}, body)
    assert problems, case
    expected = {
        "misspelt field": "'chatID' was unexpected",
        "missing session": "'session' is a required property",
        "text as a number": "text: 7 is not of type 'string'",
        "link instead of url": "'url' is a required property",
    }[case]
    assert any(expected in problem for problem in problems), problems


def test_the_closed_objects_are_our_tightening_not_the_specs(contract: WahaContract) -> None:
    # GIVEN WAHA's own schema for a text: it does not forbid other properties
    schema = contract.spec["components"]["schemas"]["MessageTextRequest"]
    assert "additionalProperties" not in schema
    # THEN only our closing refuses an extra field, and every listed one still passes
    extra = text_to(f"{GUEST}@c.us") | {"linkPreview": False, "reply_to": "false_1@c.us_A"}
    assert contract.check_request("POST", "/api/sendText", {"x-api-key": "k"}, extra) == []
    misspelt = text_to(f"{GUEST}@c.us") | {"linkpreview": False}
    assert contract.check_request("POST", "/api/sendText", {"x-api-key": "k"}, misspelt)


def test_the_contract_wants_the_key_a_known_path_and_the_query_it_declares(
    contract: WahaContract,
) -> None:
    body = text_to(f"{GUEST}@c.us")
    assert any("X-Api-Key" in p for p in contract.check_request("POST", "/api/sendText", {}, body))
    assert contract.check_request("GET", "/ping", {}, None) == []
    assert contract.check_request("POST", "/api/sendTxt", {"x-api-key": "k"}, body)
    assert contract.check_request("GET", "/api/groom/auth/qr", {"x-api-key": "k"}, None)
    assert contract.check_request("GET", "/api/groom/auth/qr?format=png", {"x-api-key": "k"}, None)


def test_the_specs_slip_on_event_is_corrected(contract: WahaContract) -> None:
    # GIVEN the spec declares `event` an object with an enum of strings
    raw = contract.spec["components"]["schemas"]["WAHAWebhookMessageAck"]["properties"]["event"]
    assert raw["type"] == "object" and "message.ack" in raw["enum"]
    # WHEN a correct envelope says "message.ack", THEN it passes; another event name does not
    with WahaPeer(contract=contract) as peer:
        _, good = peer.deliver(
            "session.status", "x", {"name": "x", "status": "STOPPED", "statuses": []}
        )
    assert contract.check_webhook("session.status", good) == []
    assert contract.check_webhook("session.status", good | {"event": "nonsense"})
    assert contract.check_webhook("session.status", good | {"event": {"name": "message"}})


def test_the_contract_honours_nullable(contract: WahaContract) -> None:
    # GIVEN the environment's worker id is `nullable: true` in the spec, and the browser is
    # null for an engine that runs none
    with WahaPeer(contract=contract, engine="NOWEB") as peer:
        _, envelope = peer.deliver(
            "session.status", "x", {"name": "x", "status": "STOPPED", "statuses": []}
        )
    assert envelope["environment"]["worker"] == {"id": None}
    assert envelope["environment"]["browser"] is None
    assert contract.check_webhook("session.status", envelope) == []
    # BUT a version, which is not nullable, may not be null
    broken = envelope | {"environment": envelope["environment"] | {"version": None}}
    assert contract.check_webhook("session.status", broken)


# ---- the API ---------------------------------------------------------------------------


def test_a_wrong_key_is_401_and_ping_needs_none(fake: WahaPeer, http: httpx.Client) -> None:
    wrong = http.post("/api/sendText", json=text_to(f"{GUEST}@c.us"), headers={"X-Api-Key": "no"})
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "Unauthorized", "statusCode": 401}
    assert httpx.get(f"{fake.base_url}/ping").json() == {"message": "pong"}
    assert httpx.get(f"{fake.base_url}/health").status_code == 200


def test_a_request_off_the_spec_is_400_naming_the_problem(
    fake: WahaPeer, http: httpx.Client
) -> None:
    answer = http.post("/api/sendText", json={"chatID": f"{GUEST}@c.us", "text": "a"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["statusCode"] == 400 and body["error"] == "Bad Request"
    assert any("chatID" in problem for problem in body["message"])
    assert fake.requests[-1].problems == body["message"]


def test_a_chat_id_that_is_not_a_whatsapp_id_is_400(http: httpx.Client) -> None:
    answer = http.post("/api/sendText", json=text_to("+393331234567"))
    assert answer.status_code == 400 and "chatId" in answer.json()["message"][0]


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB", "GOWS"])
def test_each_engine_answers_a_send_in_its_own_shape(
    fake: WahaPeer, http: httpx.Client, engine: Any
) -> None:
    fake.engine = engine
    chat = f"{GUEST}@c.us"
    sent = http.post("/api/sendText", json=text_to(chat))
    assert sent.status_code == 201
    body = sent.json()
    if engine == "WEBJS":
        key = body["id"]["id"]
        assert body["id"] == {
            "fromMe": True,
            "remote": chat,
            "id": key,
            "_serialized": f"true_{chat}_{key}",
        }
    elif engine == "NOWEB":
        key = body["key"]["id"]
        assert body["key"] == {"remoteJid": f"{GUEST}@s.whatsapp.net", "fromMe": True, "id": key}
        assert body["status"] == "PENDING" and isinstance(body["messageTimestamp"], int)
    else:
        key = body["id"].rsplit("_", 1)[1]
        assert body["id"] == f"true_{chat}_{key}" and "timestamp" in body
    assert key.startswith("3EB0") and len(key) == 20 and key[4:] == key[4:].upper()
    assert fake.requests[-1].response == body


def test_a_noweb_image_is_echoed_as_an_image_message(fake: WahaPeer, http: httpx.Client) -> None:
    fake.engine = "NOWEB"
    image = {"mimetype": "image/jpeg", "url": "https://example.com/a.jpg"}
    sent = http.post(
        "/api/sendImage",
        json={"chatId": GROUP, "file": image, "caption": "Guarda", "session": "groom"},
    )
    assert sent.status_code == 201
    assert sent.json()["key"]["remoteJid"] == GROUP
    assert sent.json()["message"]["imageMessage"]["caption"] == "Guarda"


@pytest.mark.parametrize("status", ["SCAN_QR_CODE", "STARTING", "STOPPED", "FAILED"])
def test_a_send_to_a_session_not_working_is_wahas_422(
    fake: WahaPeer, http: httpx.Client, status: str
) -> None:
    fake.add_session("bride", status=status)
    answer = http.post("/api/sendText", json=text_to(f"{GUEST}@c.us", "bride"))
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": "bride",
        "status": status,
        "expected": ["WORKING"],
    }


def test_an_unknown_session_is_404(http: httpx.Client) -> None:
    assert http.get("/api/sessions/nobody").status_code == 404
    missing = http.post("/api/sendSeen", json={"chatId": f"{GUEST}@c.us", "session": "nobody"})
    assert missing.status_code == 404 and "nobody" in missing.json()["message"]


def test_seen_and_typing_are_accepted(http: httpx.Client) -> None:
    chat = {"chatId": f"{GUEST}@c.us", "session": "groom"}
    for path in ("/api/sendSeen", "/api/startTyping", "/api/stopTyping"):
        assert http.post(path, json=chat).status_code == 201


# ---- sessions and the QR code --------------------------------------------------------------


def test_a_session_from_start_to_qr_to_working(
    fake: WahaPeer, http: httpx.Client, receiver: Receiver
) -> None:
    # GIVEN a stopped session never paired
    fake.add_session("bride", status="STOPPED", phone="393470000002", push_name="Sara")
    # WHEN it starts, THEN it is STARTING, and shows a QR code a moment later
    started = http.post("/api/sessions/bride/start")
    assert started.status_code == 201 and started.json()["status"] == "STARTING"
    wait_for_status(fake, "bride", "SCAN_QR_CODE")
    info = http.get("/api/sessions/bride").json()
    assert info["status"] == "SCAN_QR_CODE" and info["me"] is None
    # WHEN the phone scans it, THEN it works with the paired account
    fake.scan("bride")
    info = http.get("/api/sessions/bride").json()
    assert info["status"] == "WORKING"
    assert info["me"] == {"id": "393470000002@c.us", "pushName": "Sara"}
    # AND each change went out as a session.status webhook
    receiver.wait_for(3)
    assert [e["payload"]["status"] for e in receiver.of("session.status")] == [
        "STARTING",
        "SCAN_QR_CODE",
        "WORKING",
    ]
    # AND a working session cannot be scanned again
    with pytest.raises(ValueError, match="not SCAN_QR_CODE"):
        fake.scan("bride")


def test_restart_and_logout_give_a_fresh_qr(fake: WahaPeer, http: httpx.Client) -> None:
    fake.add_session("bride", status="SCAN_QR_CODE")
    first = http.get("/api/bride/auth/qr", params={"format": "raw"}).json()["value"]
    assert http.post("/api/sessions/bride/restart").status_code == 201
    wait_for_status(fake, "bride", "SCAN_QR_CODE")
    after_restart = http.get("/api/bride/auth/qr", params={"format": "raw"}).json()["value"]
    assert after_restart != first
    fake.scan("bride")
    # A paired session restarts straight into WORKING
    http.post("/api/sessions/bride/restart")
    wait_for_status(fake, "bride", "WORKING")
    # Logging out unpairs: a QR code again, a fresh one
    assert http.post("/api/sessions/bride/logout").json()["status"] == "SCAN_QR_CODE"
    after_logout = http.get("/api/bride/auth/qr", params={"format": "raw"}).json()["value"]
    assert after_logout not in (first, after_restart)
    assert http.post("/api/sessions/bride/stop").json()["status"] == "STOPPED"
    assert all(r.problems == [] for r in fake.requests)


def test_the_qr_code_as_a_png_and_as_base64_json(http: httpx.Client) -> None:
    http.post("/api/sessions/groom/logout")
    png = http.get("/api/groom/auth/qr", params={"format": "image"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert_a_png(png.content)
    as_json = http.get(
        "/api/groom/auth/qr", params={"format": "image"}, headers={"Accept": "application/json"}
    )
    assert as_json.json()["mimetype"] == "image/png"
    assert base64.b64decode(as_json.json()["data"]) == png.content


def assert_a_png(data: bytes) -> None:
    """The signature, an IHDR first, and IDAT that inflates to the rows IHDR promises."""
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20]), int.from_bytes(data[20:24])
    at, idat = 8, b""
    while at < len(data):
        length = int.from_bytes(data[at : at + 4])
        kind, chunk = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        assert zlib.crc32(kind + chunk) == int.from_bytes(data[at + 8 + length : at + 12 + length])
        idat += chunk if kind == b"IDAT" else b""
        at += 12 + length
    assert len(zlib.decompress(idat)) == height * (width + 1)


def test_no_qr_code_for_a_working_session(http: httpx.Client) -> None:
    refused = http.get("/api/groom/auth/qr", params={"format": "image"})
    assert refused.status_code == 422
    assert refused.json()["status"] == "WORKING"
    assert refused.json()["expected"] == ["SCAN_QR_CODE"]


# ---- webhooks --------------------------------------------------------------------------------


def test_a_send_is_followed_by_signed_acks(
    fake: WahaPeer, http: httpx.Client, receiver: Receiver
) -> None:
    # WHEN a text is sent
    sent = http.post("/api/sendText", json=text_to(f"{GUEST}@c.us")).json()
    # THEN acks 1, 2, 3 arrive, each signed over its exact bytes, each with its own id
    deliveries = receiver.wait_for(3)
    assert [d.envelope["payload"]["ack"] for d in deliveries] == [1, 2, 3]
    assert [d.envelope["payload"]["ackName"] for d in deliveries] == ["SERVER", "DEVICE", "READ"]
    for delivery in deliveries:
        headers = {k.lower(): v for k, v in delivery.headers.items()}
        assert waha_signature.is_valid(delivery.raw, headers["x-webhook-hmac"], HMAC_KEY)
        assert headers["x-webhook-hmac-algorithm"] == "sha512"
        assert headers["x-webhook-request-id"] == delivery.envelope["id"]
        assert headers["x-webhook-timestamp"] == str(delivery.envelope["timestamp"])
        assert delivery.envelope["payload"]["id"] == sent["id"]["_serialized"]
        assert delivery.envelope["me"] == {"id": "393470000001@c.us", "pushName": "Marco"}
    ids = [d.envelope["id"] for d in deliveries]
    assert len(set(ids)) == 3
    assert all(i.startswith("evt_") and len(i) == 30 and i == i.lower() for i in ids)


def test_a_number_ending_in_0000_gets_an_error_ack(http: httpx.Client, receiver: Receiver) -> None:
    http.post("/api/sendText", json=text_to("393330000000@c.us"))
    (delivery,) = receiver.wait_for(1)
    time.sleep(QUICK_ACKS[-1][1])  # no further acks after the error
    assert [e["payload"]["ack"] for e in receiver.of("message.ack")] == [-1]
    assert delivery.envelope["payload"]["ackName"] == "ERROR"


def test_inbound_messages_direct_group_and_lid(fake: WahaPeer, receiver: Receiver) -> None:
    status, direct = fake.inbound("groom", GUEST, "Ciao", push_name="Giulia")
    assert status == 200
    payload = direct["payload"]
    assert payload["from"] == f"{GUEST}@c.us" and payload["to"] == "393470000001@c.us"
    assert payload["id"].startswith(f"false_{GUEST}@c.us_3EB0") and payload["fromMe"] is False
    assert payload["_data"]["notifyName"] == "Giulia" and payload["body"] == "Ciao"
    # In a group: the chat is the group, the author its participant
    _, in_group = fake.inbound("groom", GUEST, "Auguri", group_id=GROUP)
    assert in_group["payload"]["from"] == GROUP
    assert in_group["payload"]["participant"] == f"{GUEST}@c.us"
    # With a LID: the number only in the key's alternate id
    _, hidden = fake.inbound("groom", GUEST, "Ciao", lid=True)
    assert hidden["payload"]["from"].endswith("@lid") and GUEST not in hidden["payload"]["from"]
    assert hidden["payload"]["_data"]["key"]["remoteJidAlt"] == f"{GUEST}@s.whatsapp.net"
    _, hidden_in_group = fake.inbound("groom", GUEST, "Ciao", group_id=GROUP, lid=True)
    assert hidden_in_group["payload"]["participant"].endswith("@lid")
    assert hidden_in_group["payload"]["_data"]["key"]["participantAlt"] == (
        f"{GUEST}@s.whatsapp.net"
    )
    assert len(receiver.wait_for(4)) == 4


def test_an_unreachable_webhook_is_status_0(contract: WahaContract) -> None:
    with WahaPeer(contract=contract, webhook_url="http://127.0.0.1:9/webhooks/waha") as peer:
        peer.add_session("groom")
        status, envelope = peer.inbound("groom", GUEST, "Ciao")
    assert status == 0 and envelope["event"] == "message"


def test_the_events_line_masks_numbers_and_never_shows_a_body(
    contract: WahaContract, receiver: Receiver
) -> None:
    lines: list[str] = []
    with WahaPeer(contract=contract, webhook_url=receiver.url, on_event=lines.append) as peer:
        peer.add_session("groom")
        peer.inbound("groom", GUEST, "segreto")
    assert len(lines) == 1 and "message" in lines[0]
    assert GUEST not in lines[0] and "segreto" not in lines[0]


# ---- faults and the sandbox's routes -------------------------------------------------------


def test_an_error_fault_on_one_path_then_back_to_normal(fake: WahaPeer, http: httpx.Client) -> None:
    fake.add_fault(WahaFault(status=500, path="/api/sendText"))
    # Another path is not touched
    assert http.get("/api/sessions/groom").status_code == 200
    crashed = http.post("/api/sendText", json=text_to(f"{GUEST}@c.us"))
    assert crashed.status_code == 500 and crashed.json()["statusCode"] == 500
    assert http.post("/api/sendText", json=text_to(f"{GUEST}@c.us")).status_code == 201


def test_a_502_fault_answers_html_every_time(fake: WahaPeer, http: httpx.Client) -> None:
    fake.add_fault(WahaFault(status=502, times=None))
    for _ in range(2):
        answer = http.get("/api/sessions/groom")
        assert answer.status_code == 502 and answer.headers["content-type"] == "text/html"
    fake.clear()
    assert http.get("/api/sessions/groom").status_code == 200


def test_timeout_and_reset_faults(fake: WahaPeer, http: httpx.Client) -> None:
    fake.add_fault(WahaFault(kind="timeout", hold_seconds=0.5))
    with pytest.raises(httpx.ReadTimeout):
        http.get("/api/sessions/groom", timeout=0.2)
    fake.add_fault(WahaFault(kind="reset"))
    with pytest.raises(httpx.TransportError):
        http.get("/api/sessions/groom")


def test_the_sandbox_routes(fake: WahaPeer, receiver: Receiver) -> None:
    sandbox = f"{fake.base_url}/_sandbox/waha"
    fake.add_session("bride", status="SCAN_QR_CODE")
    assert httpx.post(f"{sandbox}/bride/scan").status_code == 200
    assert fake.session_status("bride") == "WORKING"
    assert httpx.post(f"{sandbox}/bride/scan").status_code == 409
    written = httpx.post(
        f"{sandbox}/inbound",
        json={"session": "groom", "from": GUEST, "text": "Ciao", "group": GROUP, "name": "Ada"},
    )
    assert written.status_code == 200 and written.json()["webhook_status"] == 200
    assert httpx.post(f"{sandbox}/faults", json={"status": 503}).status_code == 200
    assert httpx.get(f"{fake.base_url}/api/sessions/groom", headers=KEYED).status_code == 503
    log = httpx.get(f"{sandbox}/requests").json()["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/api/sessions/groom", 503)
    ]
    assert {"at", "body", "problems"} <= set(log[0])
