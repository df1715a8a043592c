"""`postino`: argument parsing and one small function per command; the work is in the modules."""

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, NoReturn

from postino_cli import bulk, conversations, sessions
from postino_cli.client import (
    OK,
    REFUSED,
    USAGE,
    ApiClient,
    CliError,
    Command,
    config_from_env,
    config_from_stack,
)
from postino_cli.output import as_json, event_line, table

# `send --wait` stops at these; sent and delivered only when --timeout runs out.
FINAL = ("read", "failed", "expired", "cancelled", "unknown")
FAILED = ("failed", "expired", "cancelled", "unknown")
IN_FLIGHT = ("queued", "sending")
POLL_SECONDS = 1.0
TAIL_SECONDS = 2.0
INTERRUPTED = 130  # the shell's code for Ctrl-C; `tail` and `bulk --follow` stop that way with 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = config_from_stack(args.stack) if args.stack else config_from_env()
        command: Command = args.command
        return command(ApiClient(config), args)
    except CliError as error:
        print(error, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return INTERRUPTED


def main_entry() -> None:
    try:
        sys.exit(main())
    except BrokenPipeError:
        # A reader that stops early (`| head -1`) is no error; Python's documented way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(OK)


def send(client: ApiClient, args: argparse.Namespace) -> int:
    if bool(args.text) == bool(args.template):
        raise CliError("Give either --text or --template.", USAGE)
    body: dict[str, Any] = {"to": args.to, "sender": args.sender, "reference": args.reference}
    if args.text:
        body |= {"type": "text", "text": {"body": args.text}}
    else:
        template = bulk.template_object(args.template, args.lang, args.param)
        body |= {"type": "template", "template": template}
    message = client.post("/v1/messages", {k: v for k, v in body.items() if v is not None})
    print(message["id"], flush=True)
    if not args.wait:
        return OK
    status = follow(client, message["id"], args.timeout)
    return REFUSED if status in FAILED else OK


def follow(client: ApiClient, message_id: str, timeout: float) -> str:
    """Print each new timeline event until the message is final or the time runs out."""
    deadline, shown = time.monotonic() + timeout, 0
    while True:
        message = client.get(f"/v1/messages/{message_id}")
        events = message.get("events") or []
        for event in events[shown:]:
            print(event_line(event), flush=True)
        shown = len(events)
        if message["status"] in FINAL or time.monotonic() > deadline:
            status: str = message["status"]
            return status
        time.sleep(POLL_SECONDS)


def messages(client: ApiClient, args: argparse.Namespace) -> int:
    page = client.get(
        "/v1/messages",
        status=args.status,
        sender=args.sender,
        reference=args.reference,
        limit=args.limit,
    )
    if args.json:
        print(as_json(page))
        return OK
    columns = ("id", "sender", "to", "status", "updated_at")
    print(table(columns, [[m[c] for c in columns] for m in page["items"]]))
    return OK


def show(client: ApiClient, args: argparse.Namespace) -> int:
    message = client.get(f"/v1/messages/{args.id}")
    if args.json:
        print(as_json(message))
        return OK
    print(f"{message['id']}  {message['status']}  {message['sender']} → {message['to']}")
    if message.get("reference"):
        print(f"reference {message['reference']}")
    if message.get("error"):
        print(f"error {message['error']['code']}: {message['error']['message']}")
    for event in message.get("events") or []:
        print(event_line(event))
    return OK


def tail(client: ApiClient, args: argparse.Namespace) -> int:
    """Print the newest messages' new events every 2 s, until Ctrl-C."""
    try:
        watch(client, args.limit)
    except KeyboardInterrupt:
        return OK


def watch(client: ApiClient, limit: int) -> NoReturn:
    """Poll the newest messages; read a message again only when its updated_at moves."""
    updated: dict[str, str] = {}  # message id → the updated_at already shown
    shown: dict[str, int] = {}  # message id → events already shown
    first = True  # what happened before the tail started is not news
    while True:
        for item in reversed(client.get("/v1/messages", limit=limit)["items"]):
            if updated.get(item["id"]) == item["updated_at"]:
                continue
            updated[item["id"]] = item["updated_at"]
            events = client.get(f"/v1/messages/{item['id']}")["events"]
            if not first:
                for event in events[shown.get(item["id"], 0) :]:
                    print(f"{item['id']}  {event_line(event)}", flush=True)
            shown[item["id"]] = len(events)
        first = False
        time.sleep(TAIL_SECONDS)


def act(action: str) -> Command:
    def command(client: ApiClient, args: argparse.Namespace) -> int:
        if action == "force" and not args.yes and not confirm(args.id):
            print("Not forced.", file=sys.stderr)
            return USAGE
        message = client.post(f"/v1/messages/{args.id}/{action}")
        print(f"{message['id']}  {message['status']}")
        return OK

    return command


def confirm(message_id: str) -> bool:
    prompt = f"Force {message_id} out now, past the sender's rate window? [y/N] "
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def senders(client: ApiClient, args: argparse.Namespace) -> int:
    found = client.get("/v1/senders")
    if args.json:
        print(as_json(found))
        return OK
    rows = [
        [s["name"], s["provider"], s["paused"], s["paused_reason"], _limits(s["limits"])]
        for s in found["items"]
    ]
    print(table(("name", "provider", "paused", "reason", "limits"), rows))
    return OK


def _limits(limits: Sequence[dict[str, int]]) -> str:
    return ", ".join(f"{limit['max']}/{limit['per_seconds']}s" for limit in limits)


def reservations(client: ApiClient, args: argparse.Namespace) -> int:
    found = client.get("/v1/reservations", status=args.status)
    if args.json:
        print(as_json(found))
        return OK
    columns = ("id", "code", "status", "from", "profile_name", "created_at")
    print(table(columns, [[r.get(c) for c in columns] for r in found["items"]]))
    return OK


def send_bulk(client: ApiClient, args: argparse.Namespace) -> int:
    if bool(args.text) == bool(args.template):
        raise CliError("Give either --text or --template.", USAGE)
    campaign_problem = bulk.campaign_problem(args.campaign)
    if campaign_problem:
        raise CliError(campaign_problem, USAGE)
    try:
        content = bulk.Content(
            args.template, args.lang, bulk.parse_map(args.map), args.param, args.text, args.link
        )
        csv_file = bulk.read_csv(Path(args.file))
    except (ValueError, OSError) as error:
        raise CliError(f"Cannot read the bulk input: {error}.", USAGE) from error
    mismatch = bulk.check_numbering(content.columns, content.fixed)
    if mismatch:
        raise CliError(f"The template parameters do not add up: {mismatch}.", USAGE)
    rows = bulk.numbered(csv_file)
    problems = bulk.check_rows(rows, args.to_column, content)
    print(
        f"{csv_file.name}: {len(rows)} rows, problems: {len(problems)}; reference {csv_file.reference}"
    )
    if problems:
        print(table(("row", "problem"), [[p.row, p.problem] for p in problems]))
        raise CliError("Fix the rows above first: nothing was sent.", USAGE)
    if args.dry_run:
        return OK
    items = [
        bulk.batch_item(csv_file, row, args.to_column, content, args.sender, args.campaign)
        for row in rows
    ]
    results = _send_batches(client, items)
    accepted = [(row, r) for row, r in zip(rows, results, strict=True) if r.get("id")]
    rejected = [(row, r) for row, r in zip(rows, results, strict=True) if not r.get("id")]
    print(f"accepted {len(accepted)}, rejected {len(rejected)}")
    summary = [
        [row.number, row.values[args.to_column], r.get("id"), r.get("status"), _reason(r)]
        for row, r in zip(rows, results, strict=True)
    ]
    print(table(("row", "to", "id", "status", "error"), summary))
    if args.follow:
        with suppress(KeyboardInterrupt):  # stops the counting, not the run: it is sent
            follow_reference(client, csv_file.reference)
    return REFUSED if rejected else OK


def _send_batches(client: ApiClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for chunk in bulk.chunks(items):
        answer = client.post("/v1/messages/batch", {"messages": list(chunk)})
        results.extend(sorted(answer["results"], key=lambda r: int(r["index"])))
        _progress(len(results), len(items))
    return results


def _progress(done: int, total: int, width: int = 30) -> None:
    filled = width * done // total
    end = "\n" if done == total else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr)


def _reason(result: dict[str, Any]) -> str | None:
    error = result.get("error")
    return f"{error['code']}: {error['message']}" if error else None


def follow_reference(client: ApiClient, reference: str) -> None:
    """Counts per status every 2 s until nothing is queued or sending."""
    while True:
        counts = Counter(m["status"] for m in all_messages(client, reference))
        print("  ".join(f"{status} {n}" for status, n in sorted(counts.items())), flush=True)
        if not any(counts[s] for s in IN_FLIGHT):
            return
        time.sleep(TAIL_SECONDS)


def all_messages(client: ApiClient, reference: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get("/v1/messages", reference=reference, limit=100, cursor=cursor)
        found.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def global_flags(parser: argparse.ArgumentParser, defaults: tuple[Any, Any]) -> None:
    parser.add_argument("--json", action="store_true", default=defaults[0], help="raw JSON")
    parser.add_argument(
        "--stack",
        default=defaults[1],
        help="a deployed stack: its outputs give the URL and key (else POSTINO_API_URL and _KEY)",
    )


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="postino", description="Send and follow WhatsApp messages through a Postino stack."
    )
    global_flags(main_parser, (False, None))
    commands = main_parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run: Command, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        # The global flags work after the command too; SUPPRESS keeps a command that does not
        # see them from resetting what the main parser read.
        global_flags(sub, (argparse.SUPPRESS, argparse.SUPPRESS))
        sub.set_defaults(command=run)
        return sub

    one = command("send", send, "send a text or a template; print its id")
    one.add_argument("--to", required=True, help="the recipient's phone number")
    one.add_argument("--text")
    one.add_argument("--template", help="an approved template's name")
    one.add_argument("--lang", default="en_US", help="the template's language (en_US)")
    one.add_argument("--param", action="append", default=[], help="body parameter, in order")
    one.add_argument("--sender", help="the sender profile (the API's default: default)")
    one.add_argument("--reference")
    one.add_argument(
        "--wait",
        action="store_true",
        help="print the timeline until read, failed, expired, cancelled or unknown (exit 1 if it fails)",
    )
    one.add_argument("--timeout", type=float, default=120.0, help="seconds --wait waits (120)")

    listing = command("messages", messages, "list messages, newest first")
    listing.add_argument("--status")
    listing.add_argument("--sender")
    listing.add_argument("--reference")
    listing.add_argument("--limit", type=int, default=20)

    command("show", show, "a message and its timeline").add_argument("id")
    command("tail", tail, "print new timeline events as they happen (Ctrl-C stops)").add_argument(
        "--limit", type=int, default=20, help="how many of the newest messages to watch"
    )
    command("retry", act("retry"), "send a failed, expired or unknown message again").add_argument(
        "id"
    )
    forced = command("force", act("force"), "send a waiting message now, past the rate window")
    forced.add_argument("id")
    forced.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    command("cancel", act("cancel"), "cancel a scheduled or queued message").add_argument("id")

    command("senders", senders, "the sender profiles")
    command("reservations", reservations, "reservation requests").add_argument("--status")

    many = command("bulk", send_bulk, "send one message per CSV row, safely re-runnable")
    many.add_argument("file", help="a CSV with a header row")
    many.add_argument("--template")
    many.add_argument("--text", help="a text; {column} takes the row's value")
    many.add_argument("--lang", default="en_US")
    many.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=N",
        help="body parameter N takes the row's COLUMN",
    )
    many.add_argument(
        "--param", action="append", default=[], help="a fixed value for the next unmapped parameter"
    )
    many.add_argument("--sender")
    many.add_argument(
        "--link", metavar="URL", help="your page, signed for each recipient into {signed_link}"
    )
    many.add_argument("--campaign", help="a name for `postino report` (≤ 64 characters)")
    many.add_argument("--to-column", default="phone")
    many.add_argument("--dry-run", action="store_true", help="check the rows and stop")
    many.add_argument("--follow", action="store_true", help="then count the run's statuses")
    sessions.register(command)
    conversations.register(command)
    return main_parser
