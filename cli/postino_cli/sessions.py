"""`session` and `pair`: a WAHA sender's WhatsApp session, as /v1/senders/NAME/session gives it."""

import argparse
import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from postino_cli import qr
from postino_cli.client import OK, REFUSED, UNREACHABLE, ApiClient, CliError, Command
from postino_cli.output import as_json

# main.py's parser: a command's name, its function and its one-line summary → its own parser.
AddCommand = Callable[[str, Command, str], argparse.ArgumentParser]

# WAHA's session statuses that pairing waits through, and the ones `pair` starts from.
WAITING = ("STARTING", "SCAN_QR_CODE")
STOPPED = ("STOPPED", "FAILED")
PAIR_POLL_SECONDS = 2.0
SCAN_HINT = "Scan it from the phone: WhatsApp > Linked devices > Link a device."


def session(client: ApiClient, args: argparse.Namespace) -> int:
    path = session_path(args.name)
    if args.action == "qr":
        print(qr_drawing(client, path))
        return OK
    state = client.post(f"{path}/{args.action}") if args.action else client.get(path)
    print(as_json(state) if args.json else state_line(state))
    return OK


def pair(client: ApiClient, args: argparse.Namespace) -> int:
    """Start the session if it is not running, then draw each new QR code until the phone has
    scanned one (WORKING). A code WAHA replaces while we wait is drawn again."""
    path = session_path(args.name)
    state = _state_if_known(client, path)
    if state is None or state["status"] in STOPPED:
        state = client.post(f"{path}/start")  # a session WAHA has never seen is created too
    deadline = time.monotonic() + args.timeout
    drawn = None
    while state["status"] != "WORKING":
        if state["status"] not in WAITING:
            raise CliError(f"The session is {state['status']}: it cannot be paired now.", REFUSED)
        if state["status"] == "SCAN_QR_CODE":
            drawing = _qr_if_still_there(client, path)
            if drawing and drawing != drawn:
                print(f"{drawing}\n{SCAN_HINT}", flush=True)
                drawn = drawing
        if time.monotonic() >= deadline:
            raise CliError(f"Not paired within {args.timeout:g} s: run it again.", REFUSED)
        time.sleep(PAIR_POLL_SECONDS)
        state = client.get(path)
    print(as_json(state) if args.json else f"paired: {state_line(state)}")
    return OK


def _state_if_known(client: ApiClient, path: str) -> dict[str, Any] | None:
    """The session's state; None when WAHA has no such session yet (a new phone)."""
    try:
        state: dict[str, Any] = client.get(path)
    except CliError as refused:
        if refused.code == "session_not_found":
            return None
        raise
    return state


def _qr_if_still_there(client: ApiClient, path: str) -> str | None:
    """The QR code drawn; None when the session moved on between the two reads (WAHA's 409:
    scanned, or restarting), which the next read of its status tells."""
    try:
        return qr_drawing(client, path)
    except CliError as refused:
        if refused.exit_code == REFUSED:
            return None
        raise


def qr_drawing(client: ApiClient, path: str) -> str:
    answer = client.request("GET", f"{path}/qr", headers={"Accept": "application/json"})
    try:
        return qr.draw(qr.decode_png(base64.b64decode(answer.json()["data"])))
    except (ValueError, KeyError) as error:  # not base64, not a PNG we read (PngError)
        raise CliError(
            f"The QR code came in a form this command cannot draw: {error}.", UNREACHABLE
        ) from error


def state_line(state: dict[str, Any]) -> str:
    """bride  session bride  WORKING  393470000002@c.us Sara"""
    account = state.get("me") or {}
    paired = f"  {account.get('id') or ''} {account.get('push_name') or ''}".rstrip()
    return f"{state['sender']}  session {state['session']}  {state['status']}{paired}"


def session_path(name: str) -> str:
    return f"/v1/senders/{quote(name, safe='')}/session"


def register(command: AddCommand) -> None:
    paired = command("session", session, "a WAHA sender's session; qr draws its QR code")
    paired.add_argument("name")
    paired.add_argument("action", nargs="?", choices=("qr", "start", "restart", "logout"))
    pairing = command("pair", pair, "pair a phone: start the session, draw its QR until WORKING")
    pairing.add_argument("name", help="a WAHA sender")
    pairing.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the scan (300)"
    )
