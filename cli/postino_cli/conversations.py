"""`report`, `conversations`, `inbox` and `conversation`: the replies read back, as the API's
/v1/campaigns and /v1/conversations give them."""

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from postino_cli.client import OK, ApiClient, Command
from postino_cli.output import as_json, table

# main.py's parser: a command's name, its function and its one-line summary → its own parser.
AddCommand = Callable[[str, Command, str], argparse.ArgumentParser]

# The report's statuses in a message's order of life; one the API adds later comes last.
STATUSES = ("queued", "sent", "delivered", "read", "failed", "unknown", "cancelled", "expired")
BAR_WIDTH = 30
PREVIEW_WIDTH = 48
ARROWS = {"in": "←", "out": "→"}
# Content as the API took it (a message's type object); the others' is what the webhook said.
SENT_THROUGH_POSTINO = ("api", "system")
SPELLING = re.compile(r"[\s().+-]")  # what a person adds to a phone number's digits


def report(client: ApiClient, args: argparse.Namespace) -> int:
    found = client.get(f"/v1/campaigns/{quote(args.campaign, safe='')}")
    print(as_json(found) if args.json else "\n".join(report_lines(found)))
    return OK


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report for people, a line each: statuses with a bar, failures by code, replies,
    buttons."""
    total = int(report["total"])
    statuses: dict[str, int] = report["statuses"]
    order = [*STATUSES, *sorted(set(statuses) - set(STATUSES))]
    rows = [[s, statuses.get(s, 0), _bar(statuses.get(s, 0), total)] for s in order]
    lines = [f"campaign {report['campaign']}: {total} messages", ""]
    lines += table(("status", "count", ""), rows).splitlines()
    if report["failed_by_code"]:
        failed = sorted(report["failed_by_code"].items(), key=lambda item: -item[1])
        lines += ["", "failed by error code", *table(("code", "count"), failed).splitlines()]
    lines += ["", f"replied {report['replied']} of {total}"]
    if report["buttons"]:
        buttons = [[b["id"], b["title"], b["count"]] for b in report["buttons"]]
        lines += ["", "reply buttons", *table(("id", "title", "count"), buttons).splitlines()]
    return lines


def _bar(count: int, total: int) -> str:
    return "█" * round(BAR_WIDTH * count / total) if total else ""


def conversations(client: ApiClient, args: argparse.Namespace) -> int:
    page = client.get("/v1/conversations", sender=args.sender, limit=args.limit)
    if args.json:
        print(as_json(page))
        return OK
    print(conversation_table(page["items"], datetime.now(UTC)))
    return OK


def inbox(client: ApiClient, args: argparse.Namespace) -> int:
    """The conversations with unread messages (all of them with --all), newest activity first,
    with the time left to answer in free text."""
    page = client.get("/v1/conversations", sender=args.sender, limit=args.limit)
    waiting = [c for c in page["items"] if args.all or c["unread"]]
    if args.json:
        print(as_json({"items": waiting}))
    elif waiting:
        print(conversation_table(waiting, datetime.now(UTC)))
    else:
        print(f"no unread conversation among the {len(page['items'])} newest")
    return OK


def conversation_table(items: list[dict[str, Any]], now: datetime) -> str:
    rows = [
        [
            c["sender"],
            c["contact"],
            c["name"],
            c["unread"],
            window_left(c.get("window_open_until"), now),
            *_last(c["last_message"]),
        ]
        for c in items
    ]
    columns = ("sender", "contact", "name", "unread", "window", "last message", "at")
    return table(columns, rows)


def window_left(open_until: str | None, now: datetime) -> str:
    """How long free text can still be sent: '23h 12m', '4m', or 'closed' (templates only).
    Empty when the sender has no such window (WAHA)."""
    if open_until is None:
        return ""
    left = datetime.fromisoformat(open_until.replace("Z", "+00:00")) - now
    minutes = int(left.total_seconds() // 60)
    if minutes <= 0:
        return "closed"
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"


def _last(message: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if message is None:
        return None, None
    return f"{ARROWS[message['direction']]} {_short(message['preview'])}", _time(message["at"])


def conversation(client: ApiClient, args: argparse.Namespace) -> int:
    path = f"/v1/conversations/{quote(args.sender, safe='')}/{quote(path_contact(args.contact), safe='@')}"
    page = client.get(f"{path}/messages", limit=args.limit)
    marked = client.post(f"{path}/read") if args.read else None
    if args.json:
        print(as_json(page | ({"conversation": marked} if marked else {})))
        return OK
    for message in reversed(page["items"]):  # the API gives newest first; a chat reads down
        print(chat_line(message))
    if marked is not None:
        print(f"marked read: {marked['unread']} unread")
    return OK


def path_contact(contact: str) -> str:
    """A phone number as its digits, as the API names the conversation: a path carries no
    spaces or '+' unescaped. A WAHA chat id (…@c.us, …@g.us) as it is."""
    return contact if "@" in contact else SPELLING.sub("", contact)


def chat_line(message: dict[str, Any]) -> str:
    """One message as a chat shows it: time, arrow, who, what, then its status and thread."""
    inbound = message["direction"] == "in"
    who = (message.get("name") if inbound else None) or message["origin"]
    notes = [message["status"]] if message.get("status") else []
    if message.get("error"):
        notes.append(f"error {message['error']['code']}")
    if message.get("replied_to"):
        notes.append(f"↩ {message['replied_to']}")
    notes += [
        f"{emoji} from {author}" for author, emoji in (message.get("reactions") or {}).items()
    ]
    line = (
        f"{_time(message['at'])}  {ARROWS[message['direction']]} {who:<8} {content_text(message)}"
    )
    return f"{line}  [{', '.join(notes)}]" if notes else line


def content_text(message: dict[str, Any]) -> str:
    """A text, a caption, a button's title or a template's name; else the kind in brackets."""
    content: dict[str, Any] = message.get("content") or {}
    kind = message["type"]
    if message["origin"] in SENT_THROUGH_POSTINO:  # the type's own object, as Meta takes it
        text = content.get("body") if kind == "text" else content.get("caption")
        if kind == "template":
            text = f"template {content.get('name', '')}".rstrip()
        if kind == "interactive":
            text = (content.get("body") or {}).get("text")
    elif content.get("reply_title"):  # a reply button or list row pressed
        text = f"[{content['reply_title']}]"
    else:  # written on a phone: the guest's, or one typed on a WAHA phone
        text = content.get("text") or content.get("emoji")
    return str(text or f"[{kind}]")


def _short(text: str) -> str:
    return text if len(text) <= PREVIEW_WIDTH else text[: PREVIEW_WIDTH - 1] + "…"


def _time(at: str) -> str:
    """2026-11-25T10:59:42.870Z → 2026-11-25 10:59:42"""
    return at[:19].replace("T", " ")


def register(command: AddCommand) -> None:
    reported = command("report", report, "a campaign's statuses, failures, replies and buttons")
    reported.add_argument("campaign", help="the name its messages were sent with (--campaign)")
    listed = command("conversations", conversations, "conversations, newest activity first")
    listed.add_argument("--sender", help="one sender's only")
    listed.add_argument("--limit", type=int, default=20)
    unread = command("inbox", inbox, "conversations waiting for an answer, with the window left")
    unread.add_argument("--sender", help="one sender's only")
    unread.add_argument("--limit", type=int, default=50, help="among the newest N (≤ 100)")
    unread.add_argument("--all", action="store_true", help="read ones too")
    one = command("conversation", conversation, "a conversation's messages, oldest first")
    one.add_argument("sender")
    one.add_argument("contact", help="the phone number, or a WAHA chat id (a group: …@g.us)")
    one.add_argument("--limit", type=int, default=20, help="the newest N messages (≤ 100)")
    one.add_argument("--read", action="store_true", help="then mark the conversation read")
