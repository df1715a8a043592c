"""`make demo`: Postino's story in one run, against a local stack (started here if none is up).

`make inbound FROM=... TEXT="..."` (python -m local.demo inbound ...) plays a customer writing in.
"""

import argparse
import os
import signal
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from local.spawn import spawn
from postino_cli.conversations import report_lines

API = f"http://127.0.0.1:{os.environ.get('POSTINO_LOCAL_PORT', '3000')}"
SANDBOX = f"http://127.0.0.1:{os.environ.get('POSTINO_SANDBOX_PORT', '3001')}"
WAHA = f"http://127.0.0.1:{os.environ.get('POSTINO_WAHA_PORT', '3003')}"
KEY = os.environ.get("POSTINO_API_KEY", "local-dev-key")
CUSTOMER = "393331234567"
FINAL = ("read", "failed", "expired", "cancelled", "unknown")
WEDDING = "wedding"  # the invitations' campaign: GET /v1/campaigns/wedding reports on them


def api(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{API}{path}", json=body, headers={"x-api-key": KEY}, timeout=10, **kwargs
    )
    if response.status_code >= 400:
        raise SystemExit(f"{method} {path} → {response.status_code}: {response.text}")
    return response.json()


def running() -> bool:
    try:
        return httpx.get(f"{API}/v1/openapi.json", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def step(title: str) -> None:
    print(f"\n── {title}")


def follow(message_id: str, until: Callable[[dict[str, Any]], bool], seconds: float = 20) -> Any:
    """Print the message's timeline as it grows, until `until(message)` or time runs out."""
    shown = 0
    deadline = time.monotonic() + seconds
    message: dict[str, Any] = {}
    while time.monotonic() < deadline:
        message = api("GET", f"/v1/messages/{message_id}")
        for event in message["events"][shown:]:
            detail = {k: v for k, v in event["detail"].items() if k not in ("source", "wamid")}
            print(f"   {event['at'][11:23]}  {event['phase']:<18} {detail or ''}")
        shown = len(message["events"])
        if until(message):
            break
        time.sleep(0.3)
    return message


def inbound(sender: str, text: str, name: str = "Giulia") -> None:
    response = httpx.post(
        f"{SANDBOX}/_sandbox/inbound", json={"from": sender, "text": text, "name": name}, timeout=10
    )
    response.raise_for_status()
    print(f"   +{sender} wrote: {text!r} (webhook answered {response.json()['webhook_status']})")


def wait_for(what: str, check: Callable[[], Any], seconds: float = 30) -> Any:
    """check()'s first truthy answer; a loaded machine gets `seconds` before the demo gives up."""
    deadline = time.monotonic() + seconds
    while not (found := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {seconds:.0f} s waiting for {what}")
        time.sleep(0.2)
    return found


def wamid_of(message_id: str) -> Any:
    return api("GET", f"/v1/messages/{message_id}").get("provider_message_id")


def answer_to(message_id: str) -> Any:
    """The reply threaded on our message, once the webhook's queue has processed it."""
    return api("GET", f"/v1/messages/{message_id}").get("reply")


def guest_answers(sender: str, guest: str, name: str, text: str, quoting: str) -> None:
    """A guest answers on WhatsApp quoting our message (its WAHA key): a `message` webhook."""
    body = {"session": sender, "from": guest, "text": text, "name": name, "reply_to": quoting}
    response = httpx.post(f"{WAHA}/_sandbox/waha/inbound", json=body, timeout=10)
    response.raise_for_status()
    print(f"   {name} answers {sender}, quoting the invitation: {text!r}")


def pair(sender: str) -> None:
    """What a person does once per phone: show the QR code, scan it (the sandbox plays the phone)."""
    session = api("GET", f"/v1/senders/{sender}/session")
    if session["status"] == "WORKING":
        print(f"   {sender}: already paired ({session['me']['id']})")
        return
    qr = httpx.get(
        f"{API}/v1/senders/{sender}/session/qr",
        headers={"x-api-key": KEY, "Accept": "image/png"},
        timeout=10,
    )
    print(f"   {sender}: session {session['status']}, QR code {len(qr.content)} bytes of PNG")
    httpx.post(f"{WAHA}/_sandbox/waha/{sender}/scan", timeout=10).raise_for_status()
    for _ in range(50):
        session = api("GET", f"/v1/senders/{sender}/session")
        if session["status"] == "WORKING":
            break
        time.sleep(0.2)
    print(f"   {sender}: scanned → {session['status']} as {session['me']['push_name']}")


def wedding() -> None:
    step("5. The wedding: the couple invites from their own two phones, through WAHA")
    for sender in ("groom", "bride"):
        pair(sender)
    guests = {"groom": ("393331112222", "Luca"), "bride": ("393334445555", "Chiara")}
    sent = {}
    for sender, (guest, name) in guests.items():
        invitation = {
            "to": f"+{guest}",
            "sender": sender,
            "type": "text",
            "text": {"body": f"Ciao {name}! Marco e Sara si sposano il 12 giugno: ci sarai? 💍"},
            "reference": f"invite-{name.lower()}",
            "campaign": WEDDING,
        }
        sent[sender] = api("POST", "/v1/messages", invitation)["id"]
    print("   each phone reads the chat, thinks, types for as long as the text takes, then sends:")
    for sender, message_id in sent.items():
        print(f"   from {sender}:")
        follow(message_id, lambda m: m["status"] in FINAL, seconds=40)
    answers = {"groom": "Ci sarò! 🥂", "bride": "Che peccato, sarò in Giappone 😢"}
    for sender, message_id in sent.items():
        # The key WAHA gave our message: what the guest's phone quotes
        key = wait_for(f"{sender}'s invitation to be sent", partial(wamid_of, message_id))
        guest_answers(sender, *guests[sender], answers[sender], quoting=key)
    for sender, message_id in sent.items():
        reply = wait_for(
            f"{guests[sender][1]}'s answer on the invitation", partial(answer_to, message_id)
        )
        print(
            f"   {guests[sender][1]}'s answer is threaded on the invitation: {reply['preview']!r}"
        )
    print(f"   the campaign's report (GET /v1/campaigns/{WEDDING}, `postino report {WEDDING}`):")
    for line in report_lines(api("GET", f"/v1/campaigns/{WEDDING}")):
        print(f"     {line}".rstrip())


def demo() -> int:
    stack = None if running() else spawn()
    if stack is not None:
        print(f"  (started a local stack: {stack.ready_line})")
    try:
        step("1. A template goes out: Meta accepts it, then reports sent, delivered, read")
        hello = {
            "to": f"+{CUSTOMER}",
            "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}},
        }
        message = api("POST", "/v1/messages", hello)
        print(f"   POST /v1/messages → 202, id {message['id']}, status {message['status']}")
        follow(message["id"], lambda m: m["status"] in FINAL)

        step("2. Free text needs the customer's 24-hour window: refused until they write")
        text = {"to": f"+{CUSTOMER}", "type": "text", "text": {"body": "Your boat leaves at 9:30"}}
        refused = httpx.post(
            f"{API}/v1/messages", json=text, headers={"x-api-key": KEY}, timeout=10
        )
        if refused.status_code == 422:
            print(f"   → 422 {refused.json()['error']['code']}")
        else:
            print("   (accepted: this customer wrote in the last 24 hours)")
        inbound(CUSTOMER, "Ciao! What time is the boat tomorrow?")
        time.sleep(1.5)  # the webhook is processed from its queue
        print("   now the window is open; Meta allows one message per 6 s to the same person,")
        print("   so the rate window spaces these two out:")
        for body in (
            text,
            {
                "to": f"+{CUSTOMER}",
                "type": "image",
                "image": {"link": "https://example.com/boat.jpg", "caption": "Molo 4"},
            },
        ):
            sent = api("POST", "/v1/messages", body)
            print(f"   {body['type']}: 202, following it")
            follow(sent["id"], lambda m: m["status"] in FINAL)

        step("3. A number Meta cannot deliver to (the sandbox fails …0000 with 131026)")
        failing = api("POST", "/v1/messages", hello | {"to": "+39 333 000 0000"})
        final = follow(failing["id"], lambda m: m["status"] in FINAL)
        print(f"   → {final['status']}: {final['error']['code']} {final['error']['title']}")

        step("4. A customer writes a reservation code: a request, routed and announced")
        api(
            "PUT",
            "/v1/operators/laguna",
            {"name": "Laguna Tours", "default_target": {"to": "+39 333 999 1234"}},
        )
        api("PUT", "/v1/experiences/gondola-sunset/binding", {"operator_id": "laguna"})
        api("PUT", "/v1/reservation-codes/RES-AB12CD", {"experience_id": "gondola-sunset"})
        inbound("393335556666", "Hello, I'd like to book RES-AB12CD for two", name="Ada")
        request = None
        for _ in range(50):
            items = api("GET", "/v1/reservations")["items"]
            request = next((r for r in items if r["code"] == "RES-AB12CD"), None)
            if request and request["status"] == "notified":
                break
            time.sleep(0.2)
        if request is None:
            raise SystemExit("no reservation request appeared")
        print(
            f"   request {request['id'][:8]}…: {request['code']} from {request['profile_name']}, "
            f"experience {request['experience_id']}, operator {request['operator_id']}, "
            f"status {request['status']}"
        )
        print("   the operator's notification:")
        follow(request["notification_message_id"], lambda m: m["status"] in FINAL)
        wedding()
        print("\nDone: every message above went through the real handlers, SQS and DynamoDB.")
        return 0
    finally:
        if stack is not None:
            stack.process.send_signal(signal.SIGTERM)
            stack.process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", nargs="?", default="demo", choices=["demo", "inbound"])
    parser.add_argument("--from", dest="sender", default=CUSTOMER)
    parser.add_argument("--text", default="Ciao!")
    parser.add_argument("--name", default="Sandbox customer")
    arguments = parser.parse_args()
    if arguments.command == "inbound":
        if not running():
            raise SystemExit(f"no local stack at {API}: start it with `make run`")
        inbound(arguments.sender.lstrip("+"), arguments.text, arguments.name)
        return 0
    return demo()


if __name__ == "__main__":
    raise SystemExit(main())
