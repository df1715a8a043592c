"""The dashboard at /admin, in a real browser (the system's Chromium) against `make run`'s stack."""

import csv
import io
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    APIResponse,
    Browser,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

from local.template_stack import REPO_ROOT
from postino.webhooks.signature import sign
from postino_cli import bulk
from tests.e2e.conftest import API_KEY, APP_SECRET, Stack, start_stack, stop_stack, until
from tests.support.prerequisites import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
# A closed network: without these Chromium keeps trying Google's services and logs refusals.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The README's screenshots are taken again only when asked: POSTINO_SCREENSHOTS=1 make test.
# Otherwise they go to a scratch folder, and a test run leaves the tree as it found it.
SCREENSHOTS = (
    REPO_ROOT / "docs" / "screenshots"
    if os.environ.get("POSTINO_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "postino-screenshots"
)
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' {live}; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'"
)
HELLO = {"name": "hello_world", "language": {"code": "en_US"}}
# What Chromium logs for a response a test asks for on purpose: the only console errors allowed.
REFUSED = "Failed to load resource: the server responded with a status of 403 (Forbidden)"
UNPROCESSABLE = (
    "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
)
CONFLICT = "Failed to load resource: the server responded with a status of 409 (Conflict)"


class Tab:
    """A page that records every console error and uncaught exception."""

    def __init__(self, page: Page, stack: Stack) -> None:
        self.page = page
        self.stack = stack
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"page error: {error}")

    def sign_in(self) -> None:
        self.page.goto(f"{self.stack.api}/admin")
        self.page.fill("#api-key", API_KEY)
        self.page.press("#api-key", "Enter")
        expect(self.page.locator("#tab-queue")).to_be_visible()

    def view(self, name: str) -> None:
        self.page.click(f"#tab-{name}")
        expect(self.page.locator(f"#view-{name}")).to_be_visible()

    def badge(self, message_id: str) -> Locator:
        return self.page.locator(f'#queue li[data-id="{message_id}"] .badge')

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        skip_or_fail("no /usr/bin/chromium (CI installs it: apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def wedding_stack() -> Iterator[Stack]:
    """A stack of its own for the tests that pair the WAHA phones: the shared stack's tests
    (the demo's among them) expect groom and bride still waiting for their QR codes."""
    running, started = start_stack()
    yield running
    stop_stack(started)


@contextmanager
def opened_tab(browser: Browser, stack: Stack) -> Iterator[Tab]:
    context = browser.new_context(viewport=DESKTOP)
    opened = Tab(context.new_page(), stack)
    yield opened
    context.close()
    assert opened.errors == []


@pytest.fixture
def tab(browser: Browser, stack: Stack) -> Iterator[Tab]:
    with opened_tab(browser, stack) as opened:
        yield opened


@pytest.fixture
def wedding_tab(browser: Browser, wedding_stack: Stack) -> Iterator[Tab]:
    with opened_tab(browser, wedding_stack) as opened:
        yield opened


def send(stack: Stack, to: str, **fields: str) -> str:
    body = {"to": to, "type": "template", "template": HELLO, **fields}
    answer = stack.call("POST", "/v1/messages", body)
    assert answer.status_code == 202, answer.text
    message_id: str = answer.json()["id"]
    return message_id


def test_the_page_needs_no_key_serves_only_its_files_and_sets_a_csp(stack: Stack) -> None:
    page = httpx.get(f"{stack.api}/admin")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = CSP.format(live=stack.live.removesuffix("/prod"))
    assert page.headers["content-security-policy"] == csp
    assert '<script src="admin/admin.js"' in page.text and "<style" not in page.text
    scripts = ("live.js", "senders.js", "inbox.js", "campaigns.js", "routing.js")
    for script in scripts:
        assert f'<script src="admin/{script}"' in page.text
    for asset, kind in (
        ("admin.js", "text/javascript"),
        *((script, "text/javascript") for script in scripts),
        ("admin.css", "text/css"),
    ):
        served = httpx.get(f"{stack.api}/admin/{asset}")
        assert served.status_code == 200 and served.headers["content-type"].startswith(kind)
        assert served.headers["content-security-policy"] == csp
    assert httpx.get(f"{stack.api}/admin/x.js").status_code == 404
    assert httpx.get(f"{stack.api}/admin/..%2Fapp.py").status_code == 404
    # AND the API behind it still wants the key
    assert httpx.get(f"{stack.api}/v1/messages").status_code == 403


def test_a_wrong_key_is_refused_and_the_right_one_signs_in(tab: Tab) -> None:
    page = tab.page
    page.goto(f"{tab.stack.api}/admin")
    page.fill("#api-key", "not-the-key")
    page.press("#api-key", "Enter")
    expect(page.locator("#login-error")).to_have_text(re.compile("refused the key"))
    expect(page.locator("#tabs")).to_be_hidden()
    assert tab.errors == [REFUSED]
    tab.errors.clear()
    page.fill("#api-key", API_KEY)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#tab-queue")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#login-error")).to_be_hidden()
    # The key lives in the tab's sessionStorage, never in the address
    assert page.evaluate("sessionStorage.getItem('postino.apiKey')") == API_KEY
    assert API_KEY not in page.url


def test_a_message_sent_from_the_form_reaches_read_with_its_timeline(tab: Tab) -> None:
    page = tab.page
    tab.sign_in()
    tab.view("send")
    # GIVEN free text to someone who never wrote: the API's error shows in the live region
    page.fill("#send-to", "+39 333 765 4321")
    page.fill("#send-body", "Ciao!")
    page.click("#send-form button[type=submit]")
    expect(page.locator("#notice")).to_have_text(re.compile("422 outside_customer_service_window"))
    assert tab.errors == [UNPROCESSABLE]
    tab.errors.clear()
    # WHEN a template goes from the form
    page.check("#send-form input[name=kind][value=template]")
    page.fill("#send-template-name", "hello_world")
    tab.screenshot("send")
    page.click("#send-form button[type=submit]")
    # THEN its drawer opens, and the queue shows it reach read (blue ticks)
    expect(page.locator("#drawer")).to_be_visible()
    message_id = page.locator("#drawer-id").inner_text()
    assert re.fullmatch(r"[0-9a-f]{32}", message_id), message_id
    expect(tab.badge(message_id)).to_have_text("read ✓✓", timeout=30_000)
    expect(page.locator("#timeline .phase")).to_have_text(
        ["accepted", "queued", "sending", "provider_accepted", "delivered", "read"],
        timeout=10_000,
    )
    tab.screenshot("drawer")
    page.keyboard.press("Escape")
    expect(page.locator("#drawer")).to_be_hidden()


def test_a_failed_message_shows_metas_error_and_is_retried(tab: Tab) -> None:
    page = tab.page
    message_id = send(tab.stack, "+39 333 555 0000")  # the sandbox fails it: 131026
    tab.sign_in()
    expect(tab.badge(message_id)).to_have_text("❌ failed · Message undeliverable", timeout=30_000)
    tab.badge(message_id).click()
    expect(page.locator("#drawer-actions button")).to_have_text(["Retry"])
    page.click("#drawer-actions [data-action=retry]")
    expect(page.locator("#notice")).to_have_text(f"Message {message_id}: retry done.")
    # the second attempt is on the timeline (and fails again: the number is still the sandbox's)
    expect(page.locator('#timeline li[data-phase="sending"]')).to_have_count(2, timeout=30_000)
    page.click("#drawer-close")
    expect(page.locator("#drawer")).to_be_hidden()


def test_a_scheduled_message_is_cancelled_once_confirmed(tab: Tab) -> None:
    page = tab.page
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    read = send(tab.stack, "+39 333 123 4567", reference="invite-ada")
    failed = send(tab.stack, "+39 333 444 0000", reference="invite-bea")
    kept = send(tab.stack, "+39 333 765 1111", reference="reminder-ada", send_at=tomorrow)
    cancelled = send(tab.stack, "+39 333 765 2222", reference="reminder-bea", send_at=tomorrow)
    tab.sign_in()
    tab.badge(cancelled).click()
    expect(page.locator("#drawer-actions button")).to_have_text(["Force", "Cancel message"])
    # WHEN cancel is asked, THEN a dialog asks first; dismissing it changes nothing
    page.click("#drawer-actions [data-action=cancel]")
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm button[value=cancel]")
    expect(tab.badge(cancelled)).to_have_text("scheduled")
    page.click("#drawer-actions [data-action=cancel]")
    page.click("#confirm-ok")
    expect(tab.badge(cancelled)).to_have_text("cancelled")
    expect(page.locator("#timeline .phase").last).to_have_text("cancelled")
    page.click("#drawer-close")
    # AND the queue shows each message as it is
    expect(tab.badge(kept)).to_have_text("scheduled")
    # (60 s: in a full `make test` on two cores, the live event of a status came later than 30 s)
    expect(tab.badge(read)).to_have_text("read ✓✓", timeout=60_000)
    expect(tab.badge(failed)).to_have_text("❌ failed · Message undeliverable", timeout=60_000)
    page.fill("#queue-filters input[name=reference]", "reminder-ada")
    page.press("#queue-filters input[name=reference]", "Enter")
    expect(page.locator("#queue li")).to_have_count(1)
    page.fill("#queue-filters input[name=reference]", "")
    page.press("#queue-filters input[name=reference]", "Enter")
    expect(tab.badge(read)).to_be_visible()
    tab.screenshot("queue")


def test_a_list_read_before_a_live_event_does_not_undo_it(tab: Tab) -> None:
    """Under load the API is slow: a read of the queue can leave before a change and answer
    after the change's live event. The page keeps what the event showed."""
    page = tab.page
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    reminder = send(tab.stack, "+39 333 765 3333", send_at=tomorrow)
    tab.sign_in()
    expect(page.locator("#live-status")).to_have_text("● Live", timeout=15_000)
    expect(tab.badge(reminder)).to_have_text("scheduled")
    page.wait_for_function("() => !state.queueBusy")
    # GIVEN a read of the queue that answers only when the test lets it
    held: list[tuple[Route, APIResponse]] = []
    queue_reads = re.compile(r"/v1/messages\?")
    page.route(queue_reads, lambda route: held.append((route, route.fetch())))
    # (a message new to the page makes it read the queue)
    newcomer = send(tab.stack, "+39 333 765 4444", send_at=tomorrow)
    for _ in range(600):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page did not read the queue for a new message"
    # WHEN the reminder is cancelled meanwhile, and its live event shows it
    assert tab.stack.call("POST", f"/v1/messages/{reminder}/cancel").status_code == 200
    expect(tab.badge(reminder)).to_have_text("cancelled", timeout=60_000)
    # AND the read made before the cancel answers now
    for route, answer in held:
        route.fulfill(response=answer)
    page.unroute(queue_reads)
    expect(tab.badge(newcomer)).to_be_visible()
    # THEN the reminder still shows cancelled (the newcomer's row came in the same answer)
    assert tab.badge(reminder).inner_text() == "cancelled"


def pair_the_groom(stack: Stack) -> None:
    if stack.call("GET", "/v1/senders/groom/session").json()["status"] == "WORKING":
        return
    assert httpx.post(f"{stack.waha}/_sandbox/waha/groom/scan").status_code == 200
    assert until(
        lambda: stack.call("GET", "/v1/senders/groom/session").json()["status"] == "WORKING"
    )


# Records every text a message's badge takes, however briefly: a phase can last 0.1 s.
WATCH_BADGES = """() => {
  window.badgeTexts = {};
  const seen = (id, text) => {
    const texts = (window.badgeTexts[id] = window.badgeTexts[id] || []);
    if (text && text !== texts.at(-1)) texts.push(text);
  };
  new MutationObserver((records) => {
    for (const record of records) {
      const row = record.target.closest && record.target.closest("li[data-id]");
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (row && node.matches(".badge")) seen(row.dataset.id, node.textContent);
        if (node.matches("li[data-id]")) seen(node.dataset.id, node.querySelector(".badge")?.textContent);
      }
    }
  }).observe(document.getElementById("queue"), { subtree: true, childList: true });
}"""


def test_a_waha_send_shows_each_phase_live_and_the_next_one_its_slot(wedding_tab: Tab) -> None:
    tab, stack = wedding_tab, wedding_tab.stack
    pair_the_groom(stack)
    # (a groom who thinks a second or two, then types as long: phases a 3 s poll would miss)
    groom = stack.call("GET", "/v1/senders/groom").json()
    quick = {
        "provider": "waha",
        **{key: groom[key] for key in ("base_url", "api_key_secret", "session")},
        "human_like": {"think_seconds": {"min": 1, "max": 2}, "typing_max_seconds": 1},
    }
    assert stack.call("PUT", "/v1/senders/groom", quick).status_code == 200, groom
    tab.sign_in()
    expect(tab.page.locator("#live-status")).to_have_text("● Live", timeout=15_000)
    # GIVEN two invitations from the groom's phone, which keeps 30 to 60 s between two sends
    body = {"sender": "groom", "type": "text", "text": {"body": "Ci sarai il 12 giugno?"}}
    tab.page.evaluate(WATCH_BADGES)
    first = stack.call("POST", "/v1/messages", {"to": "+393331118888", **body}).json()["id"]
    second = stack.call("POST", "/v1/messages", {"to": "+393334448888", **body}).json()["id"]
    # THEN the first shows each of a person's gestures as it happens, in order, then sent
    expect(tab.badge(first)).to_have_text(
        re.compile("^(✅ sent|delivered ✓✓|read ✓✓)$"), timeout=60_000
    )
    texts = tab.page.evaluate("id => window.badgeTexts[id]", first)
    # (the claim shows 🚀 sending first; then the person's gestures, then the send itself)
    gestures = texts[texts.index("👀 reading") :] if "👀 reading" in texts else texts
    phases = [t for t in gestures if t in ("👀 reading", "⏳ waiting", "⌨️ typing", "🚀 sending")]
    assert phases == ["👀 reading", "⏳ waiting", "⌨️ typing", "🚀 sending"], texts
    colours = {
        tab.page.evaluate(
            """phase => {
              const badge = Object.assign(document.createElement("span"), {className: `badge live phase-${phase}`});
              document.body.append(badge);
              const colour = getComputedStyle(badge).backgroundColor;
              badge.remove();
              return colour;
            }""",
            phase,
        )
        for phase in ("reading", "waiting_human", "typing", "sending")
    }
    assert len(colours) == 4, colours  # each phase its own colour
    # AND the second shows when its slot comes
    # (60 s: in a full `make test` on two cores, its live event came later than 15 s)
    expect(tab.badge(second)).to_have_text(re.compile(r"^rate-limited · next \d"), timeout=60_000)


def test_the_page_says_when_live_updates_are_off_and_reconnects(tab: Tab) -> None:
    tab.sign_in()
    status = tab.page.locator("#live-status")
    expect(status).to_have_text("● Live", timeout=15_000)
    # WHEN API Gateway drops the page's connection (as at its 2-hour limit)
    management = tab.stack.live_connections.removesuffix("/prod")
    assert len(httpx.delete(f"{management}/_local/connections").json()) >= 1
    # THEN the page says it polls meanwhile, and comes back live by itself
    expect(status).to_have_text(
        re.compile("^Live updates off .*refreshing every 3 s$"), timeout=5_000
    )
    expect(status).to_have_text("● Live", timeout=15_000)
    # AND a message sent meanwhile shows, without a reload
    message_id = send(tab.stack, "+39 333 765 9999")
    expect(tab.badge(message_id)).to_have_text("read ✓✓", timeout=30_000)


def test_the_senders_show_windows_and_a_qr_code_until_the_phone_is_paired(
    wedding_tab: Tab,
) -> None:
    tab, stack = wedding_tab, wedding_tab.stack
    pair_the_groom(stack)  # the bride's phone still waits for its QR code
    tab.sign_in()
    tab.view("senders")
    bride, groom = (tab.page.locator(f'article[data-sender="{s}"]') for s in ("bride", "groom"))
    expect(bride.locator(".session-status")).to_have_text("SCAN_QR_CODE")
    expect(bride.locator("img.qr")).to_have_attribute("src", re.compile("^data:image/png;base64,"))
    assert bride.locator("img.qr").evaluate("img => img.naturalWidth") > 0
    expect(groom.locator(".session-status")).to_have_text("WORKING")
    expect(groom.locator("img.qr")).to_be_hidden()
    expect(tab.page.locator('article[data-sender="default"] meter')).to_have_count(1)
    expect(groom.locator("meter")).to_have_count(2)  # 10 an hour, 50 a day
    tab.screenshot("senders")
    # WHEN the groom's phone is logged out (after a confirmation), THEN his QR code shows
    groom.get_by_role("button", name="Logout").click()
    expect(tab.page.locator("#confirm-text")).to_have_text("Log groom's phone out?")
    tab.page.click("#confirm-ok")
    expect(groom.locator(".session-status")).to_have_text("SCAN_QR_CODE", timeout=10_000)
    expect(groom.locator("img.qr")).to_be_visible(timeout=10_000)


def test_a_reservation_request_is_acknowledged(tab: Tab) -> None:
    # GIVEN an operator watching the reservations
    tab.sign_in()
    tab.view("reservations")
    # WHEN a request comes in (webhook → SQS → processor: seconds on a loaded machine)
    code = f"RES-{uuid.uuid4().hex[:6].upper()}"
    played = httpx.post(
        f"{tab.stack.sandbox}/_sandbox/inbound",
        json={"from": "393331117777", "text": f"Ciao, prenoto {code} per due", "name": "Lia"},
    )
    assert played.status_code == 200
    # THEN it appears without a reload, and can be acknowledged
    row = tab.page.locator("#reservations li").filter(has_text=code)
    expect(row).to_have_count(1, timeout=30_000)
    expect(row.locator(".to")).to_have_text("Lia 393331117777")
    tab.screenshot("reservations")
    row.get_by_role("button", name="acknowledged").click()
    expect(row.locator(".badge")).to_have_text("acknowledged", timeout=15_000)
    expect(row.get_by_role("button")).to_have_text(["confirmed", "rejected"])


def test_the_queue_and_drawer_fit_a_phone(tab: Tab) -> None:
    page = tab.page
    message_id = send(tab.stack, "+39 333 222 1111")
    page.set_viewport_size({"width": 375, "height": 740})
    tab.sign_in()
    expect(tab.badge(message_id)).to_be_visible()
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits)
    tab.badge(message_id).click()
    expect(page.locator("#drawer")).to_be_in_viewport()
    assert page.locator("#drawer").bounding_box()["width"] <= 375  # type: ignore[index]
    assert page.evaluate(fits)


# ---- the Inbox -----------------------------------------------------------------------------


def new_customer() -> str:
    """A number no other test writes from; it ends in 7, never in the sandbox's failing 0000."""
    return f"3933{uuid.uuid4().int % 10**7:07d}7"


def customer_writes(stack: Stack, customer: str, text: str, name: str = "Sandbox customer") -> None:
    played = httpx.post(
        f"{stack.sandbox}/_sandbox/inbound", json={"from": customer, "text": text, "name": name}
    )
    assert played.status_code == 200 and played.json()["webhook_status"] == 200, played.text


def conversation_row(tab: Tab, customer: str) -> Locator:
    return tab.page.locator(f'#conversations li[data-contact="{customer}"]')


def test_an_inbound_message_appears_in_the_inbox_without_a_reload(tab: Tab) -> None:
    page = tab.page
    # GIVEN an operator watching the Inbox, live
    tab.sign_in()
    tab.view("inbox")
    expect(page.locator("#live-status")).to_have_text("● Live", timeout=15_000)
    # WHEN a customer writes
    customer = new_customer()
    customer_writes(tab.stack, customer, "Avete posto sabato sera?", name="Nora")
    # THEN the conversation comes to the top, unread, bold, with its window (no reload)
    row = conversation_row(tab, customer)
    expect(row.locator(".count")).to_have_text("1 unread", timeout=30_000)
    expect(page.locator("#conversations li").first).to_have_attribute("data-contact", customer)
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(row.locator(".who")).to_have_text("Nora")
    expect(row.locator(".preview")).to_have_text("← Avete posto sabato sera?")
    expect(row.locator(".time-left")).to_have_text(re.compile(r"^23h \d+m left$"))
    tab.screenshot("inbox")
    # WHEN it is opened, THEN the message shows and the conversation is read
    row.get_by_role("button").click()
    expect(page.locator("#conversation-title")).to_have_text("Nora")
    expect(page.locator("#chat .bubble.in .text")).to_have_text(["Avete posto sabato sera?"])
    expect(row.locator(".count")).to_have_count(0)
    expect(row).not_to_have_class(re.compile(r"\bunread\b"))
    listed = tab.stack.call("GET", "/v1/conversations", params={"sender": "default", "limit": 100})
    (read,) = [c for c in listed.json()["items"] if c["contact"] == customer]
    assert read["unread"] == 0


def test_a_reply_is_sent_from_the_inbox_inside_the_window(tab: Tab) -> None:
    page, stack = tab.page, tab.stack
    # GIVEN a customer who just wrote
    customer = new_customer()
    customer_writes(stack, customer, "Posso portare il cane?")
    tab.sign_in()
    tab.view("inbox")
    conversation_row(tab, customer).get_by_role("button").click(timeout=30_000)
    expect(page.locator("#chat .bubble.in .text")).to_have_text(["Posso portare il cane?"])
    # THEN the window is open: a free-text box, no template picker
    expect(page.locator("#reply-template")).to_be_hidden()
    # WHEN the operator types a reply and sends it from the keyboard
    page.fill("#reply-body", "Certo, è il benvenuto!")
    page.press("#reply-body", "Control+Enter")
    # THEN it shows in the conversation, after the question, as ours
    expect(page.locator("#chat .bubble .text")).to_have_text(
        ["Posso portare il cane?", "Certo, è il benvenuto!"]
    )
    expect(page.locator("#chat .bubble.out .badge")).to_have_count(1)
    expect(page.locator("#reply-body")).to_have_value("")
    # AND the API has it, as a text from the default sender to the customer
    (sent,) = stack.call("GET", "/v1/messages", params={"to": customer}).json()["items"]
    assert (sent["sender"], sent["type"]) == ("default", "text")
    path = f"/v1/conversations/default/{customer}/messages"
    newest = stack.call("GET", path).json()["items"][0]
    assert newest["id"] == sent["id"] and newest["content"]["body"] == "Certo, è il benvenuto!"
    # AND the open conversation fits a phone
    page.set_viewport_size({"width": 360, "height": 740})
    page.locator("#reply-send").scroll_into_view_if_needed()
    expect(page.locator("#reply-send")).to_be_in_viewport()
    assert page.locator("#conversation").bounding_box()["width"] <= 360  # type: ignore[index]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.screenshot("inbox-phone")


def customer_wrote_yesterday(stack: Stack, customer: str, text: str) -> None:
    """Meta's webhook for a message written 25 hours ago (Meta retries a delivery for days, and
    a message keeps the time it was written): its 24-hour window has closed since."""
    default = stack.call("GET", "/v1/senders/default").json()
    message = {
        "from": customer,
        "id": f"wamid.HBgM{uuid.uuid4().hex}",
        "timestamp": str(int(time.time()) - 25 * 3600),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550000001",
            "phone_number_id": default["phone_number_id"],
        },
        "contacts": [{"profile": {"name": "Ugo"}, "wa_id": customer}],
        "messages": [message],
    }
    change = {"field": "messages", "value": value}
    notification = {
        "object": "whatsapp_business_account",
        "entry": [{"id": default["waba_id"], "changes": [change]}],
    }
    raw = json.dumps(notification).encode()
    delivered = httpx.post(
        f"{stack.webhooks}webhooks/meta",
        content=raw,
        headers={"X-Hub-Signature-256": sign(raw, APP_SECRET), "Content-Type": "application/json"},
    )
    assert delivered.status_code == 200, delivered.text


def test_outside_the_window_the_inbox_offers_templates_with_their_parameters(tab: Tab) -> None:
    page, stack = tab.page, tab.stack
    # GIVEN a conversation whose window closed: the API takes no free text any more
    customer = new_customer()
    customer_wrote_yesterday(stack, customer, "Ci sono ancora posti domani?")
    tab.sign_in()
    tab.view("inbox")
    row = conversation_row(tab, customer)
    expect(row.locator(".time-left")).to_have_text("closed", timeout=30_000)
    free_text = {"to": customer, "type": "text", "text": {"body": "Sì!"}}
    refused = stack.call("POST", "/v1/messages", free_text)
    assert refused.json()["error"]["code"] == "outside_customer_service_window"
    # WHEN it is opened, THEN a template picker takes the text box's place
    row.get_by_role("button").click()
    expect(page.locator("#conversation-window")).to_have_text("closed")
    expect(page.locator("#reply-text")).to_be_hidden()
    expect(page.locator("#reply-template")).to_be_visible()
    # AND a template shows its text and one field per parameter
    page.select_option("#reply-template-name", label="booking_reminder (en_US)")
    expect(page.locator("#reply-template-text")).to_have_text(
        "Hi {{1}}, see you on {{2}} at {{3}}."
    )
    expect(page.locator("#reply-parameters label")).to_have_text(
        ["Body {{1}}", "Body {{2}}", "Body {{3}}"]
    )
    for label, value in (
        ("Body {{1}}", "Ugo"),
        ("Body {{2}}", "Saturday"),
        ("Body {{3}}", "10:00"),
    ):
        page.get_by_label(label, exact=True).fill(value)
    tab.screenshot("inbox-template")
    page.click("#reply-send")
    # THEN the template shows in the conversation, and was accepted with those parameters
    expect(page.locator("#chat .bubble.out .text")).to_have_text(
        ["📄 booking_reminder: Ugo · Saturday · 10:00"]
    )
    expect(page.locator("#reply-error")).to_be_hidden()
    path = f"/v1/conversations/default/{customer}/messages"
    template = stack.call("GET", path).json()["items"][0]["content"]
    assert (template["name"], template["language"]) == ("booking_reminder", {"code": "en_US"})
    (body,) = template["components"]
    assert body["type"] == "body"
    assert [p["text"] for p in body["parameters"]] == ["Ugo", "Saturday", "10:00"]


# ---- campaigns: a CSV bulk send and its report -------------------------------------------------

WEDDING_TEMPLATE = "wedding_invitation (it)"  # the sandbox's: Ciao {{1}}! … tavolo: {{2}}. … {{3}}
RSVP = "https://example.com/rsvp"


def guests_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8-sig").replace(b"\n", b"\r\n"))  # as a spreadsheet saves it
    return path


def fill_bulk_form(tab: Tab, path: Path, campaign: str) -> None:
    page = tab.page
    page.set_input_files("#bulk-file", str(path))
    expect(page.locator("#bulk-file-info")).to_contain_text(f"{path.name}: ")
    page.select_option("#bulk-sender", "default")
    page.check("#bulk-form input[name=kind][value=template]")
    page.select_option("#bulk-template-name", label=WEDDING_TEMPLATE)
    page.fill("#bulk-body-1", "{name}")
    page.fill("#bulk-body-2", "{table}")
    page.fill("#bulk-body-3", RSVP)
    page.fill("#bulk-campaign", campaign)


def referenced(stack: Stack, path: Path) -> list[dict[str, Any]]:
    reference = bulk.read_csv(path).reference
    answer = stack.call("GET", "/v1/messages", params={"reference": reference})
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_a_csv_with_bad_rows_sends_nothing_and_names_each_row(tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    tab.sign_in()
    tab.view("campaigns")
    # GIVEN a guest list with a number that is not one, and a guest without a name
    path = guests_file(
        tmp_path,
        "guests-to-fix.csv",
        "phone,name,table\n+39 333 100 0001,Anna,1\nnot a phone,Bruno,2\n+39 333 100 0003,,3\n",
    )
    fill_bulk_form(tab, path, f"fix-{uuid.uuid4().hex[:8]}")
    expect(page.locator("#bulk-file-info")).to_have_text(
        "guests-to-fix.csv: 3 rows; columns phone, name, table"
    )
    # WHEN it is sent
    page.click("#bulk-send")
    # THEN each problem is named with its row, as a spreadsheet numbers it, and nothing is sent
    expect(page.locator("#bulk-error")).to_contain_text("2 problem(s)")
    expect(page.locator("#bulk-problems tr")).to_have_text(
        [
            re.compile(r"3\s*'not a phone' does not look like a phone number"),
            re.compile(r"4\s*column 'name' is empty or missing"),
        ]
    )
    assert referenced(tab.stack, path) == []


def test_a_csv_is_sent_with_progress_its_report_follows_and_sending_it_again_doubles_nothing(
    tab: Tab, tmp_path: Path
) -> None:
    page = tab.page
    tab.sign_in()
    tab.view("campaigns")
    # GIVEN a guest list saved by a spreadsheet (BOM, CRLF, a quoted name with a comma), one
    # guest at a number Meta cannot reach (the sandbox fails …0000 with 131026)
    campaign = f"wedding-{uuid.uuid4().hex[:8]}"
    path = guests_file(
        tmp_path,
        "guests.csv",
        "phone,name,table\n"
        "+39 333 200 0011,Anna,1\n"
        '+39 333 200 0012,"Zoë, la sposa",2\n'
        "+39 333 200 0013,Bruno,3\n"
        "+39 333 200 0000,Carla,4\n",
    )
    fill_bulk_form(tab, path, campaign)
    # WHEN it is sent from the page
    page.click("#bulk-send")
    # THEN the progress bar reaches every row, each accepted
    expect(page.locator("#bulk-progress-text")).to_have_text("4 of 4 rows sent to the queue")
    expect(page.locator("#bulk-result")).to_have_text(
        f"accepted 4, refused 0; reference {bulk.read_csv(path).reference}"
    )
    # AND the campaign's report follows live: a bar per status, the failure by its code
    expect(page.locator("#campaign-title")).to_have_text(campaign)
    expect(page.locator('#campaign-bars [data-status="read"] .bar-count')).to_have_text(
        "3", timeout=30_000
    )
    expect(page.locator('#campaign-bars [data-status="failed"] .bar-count')).to_have_text("1")
    expect(page.locator("#campaign-failures")).to_have_text("131026: 1")
    expect(page.locator("#campaign-summary")).to_have_text("4 messages · 0 replied")
    page.evaluate("window.scrollTo(0, 0)")  # the report, above the form
    tab.screenshot("campaign")
    sent = {m["id"]: m for m in referenced(tab.stack, path)}
    assert len(sent) == 4
    # AND Meta received each row's own values, the quoted name whole
    zoe = next(i for i, m in sent.items() if re.sub(r"\D", "", m["to"]).endswith("3332000012"))
    received = httpx.get(f"{tab.stack.sandbox}/_sandbox/requests").json()["requests"]
    to_zoe = next(
        r["body"]
        for r in received
        if r["wamid"] and r["body"].get("biz_opaque_callback_data") == zoe
    )
    parameters = to_zoe["template"]["components"][0]["parameters"]
    assert [p["text"] for p in parameters] == ["Zoë, la sposa", "2", RSVP]
    # AND the same file sent again, from the page or by the CLI, is answered with the same
    # messages: the page's keys and items are the CLI's
    page.click("#bulk-send")
    expect(page.locator("#bulk-result")).to_have_text(re.compile("^accepted 4, refused 0"))
    csv_file = bulk.read_csv(path)
    content = bulk.Content("wedding_invitation", "it", {1: "name", 2: "table"}, [RSVP], None)
    items = [
        bulk.batch_item(csv_file, row, "phone", content, "default", campaign)
        for row in bulk.numbered(csv_file)
    ]
    answer = tab.stack.call("POST", "/v1/messages/batch", {"messages": items})
    assert {r["id"] for r in answer.json()["results"]} == set(sent)
    assert len(referenced(tab.stack, path)) == 4


# ---- setting up without curl: senders ----------------------------------------------------------

NOT_FOUND = "Failed to load resource: the server responded with a status of 404 (Not Found)"


def test_a_waha_sender_is_set_up_in_the_page_and_paired_from_start_to_working(
    wedding_tab: Tab,
) -> None:
    tab, stack, page = wedding_tab, wedding_tab.stack, wedding_tab.page
    name = f"studio-{uuid.uuid4().hex[:6]}"
    session = name.replace("-", "_")
    tab.sign_in()
    tab.view("senders")
    # GIVEN a new WAHA sender filled in, its gap's min above its max
    page.click("#sender-new")
    form = page.locator("#sender-form")
    form.locator("[name=name]").fill(name)
    form.locator("[name=provider]").select_option("waha")
    form.locator("[name=base_url]").fill(stack.waha)
    form.locator("[name=api_key_secret]").fill("postino/waha/api-key")
    form.locator("[name=session]").fill(session)
    form.locator('[name="gap_seconds.min"]').fill("90")
    # WHEN it is saved, THEN the API's words show beside the field, and nothing is stored
    form.get_by_role("button", name="Save").click()
    expect(form.locator(".field-error")).to_have_text(["min must not exceed max"])
    expect(form.locator('[name="gap_seconds.min"]')).to_have_attribute("aria-invalid", "true")
    assert stack.call("GET", f"/v1/senders/{name}").status_code == 404
    assert tab.errors == [UNPROCESSABLE]
    tab.errors.clear()
    # WHEN the gap is fixed and it is saved, THEN it is stored with WAHA's safe limits
    form.locator('[name="gap_seconds.min"]').fill("45")
    form.get_by_role("button", name="Save").click()
    expect(form).to_be_hidden()
    stored = stack.call("GET", f"/v1/senders/{name}").json()
    assert stored["gap_seconds"] == {"min": 45, "max": 60}
    assert [(w["max"], w["per_seconds"]) for w in stored["limits"]] == [(10, 3600), (50, 86400)]
    assert stored["pair_limit"] == {"max": 4, "per_seconds": 3600}
    card = page.locator(f'article[data-sender="{name}"]')
    expect(card.locator(".session-status")).to_have_text("not started")
    # WHEN Start is pressed, THEN its QR code shows; once scanned, the session is WORKING
    card.get_by_role("button", name="Start", exact=True).click()
    expect(card.locator(".session-status")).to_have_text("SCAN_QR_CODE", timeout=15_000)
    expect(card.locator("img.qr")).to_have_attribute("src", re.compile("^data:image/png;base64,"))
    card.locator("img.qr").scroll_into_view_if_needed()
    tab.screenshot("pairing")
    assert httpx.post(f"{stack.waha}/_sandbox/waha/{session}/scan").status_code == 200
    expect(card.locator(".session-status")).to_have_text("WORKING", timeout=15_000)
    expect(card.locator("img.qr")).to_be_hidden()
    # AND it is paused and resumed from its card
    card.get_by_role("button", name="Pause").click()
    page.click("#confirm-ok")
    expect(card.locator(".paused-text")).to_have_text("Paused: paused by hand ")
    card.get_by_role("button", name="Resume").click()
    expect(card.locator(".paused")).to_be_hidden()
    # AND an edit keeps its limits and changes what was changed
    card.get_by_role("button", name="Edit").click()
    expect(form.locator("[name=name]")).to_have_value(name)
    expect(form.locator('[name="limits.1.max"]')).to_have_value("50")
    form.locator('[name="limits.1.max"]').fill("40")
    form.get_by_role("button", name="Save").click()
    expect(form).to_be_hidden()
    limits = stack.call("GET", f"/v1/senders/{name}").json()["limits"]
    assert [(w["max"], w["per_seconds"]) for w in limits] == [(10, 3600), (40, 86400)]
    tab.errors[:] = [e for e in tab.errors if e != NOT_FOUND]  # the session before Start


CSV_CASES = [
    "phone,name\n+39 333 1,Anna\n",
    "phone,name\r\n+39 333 1,Anna\r\n\r\n+39 333 2,Bruno",  # CRLF, a blank line, no final break
    'phone,name\n+39 333 1,"Zoë, la ""sposa"""\n',  # a quoted comma and quotes
    'phone,note\n+39 333 1,"two\nlines"\n',  # a line break inside quotes
    "phone,name\n+39 333 1\n+39 333 2,Bruno,extra\n",  # short and long rows
    'phone,name\n+39 333 1,ab"c\n   \n',  # a quote mid-field, a line of spaces
    "",
]


def test_the_page_reads_a_csv_as_the_cli_does(tab: Tab) -> None:
    tab.sign_in()
    for text in CSV_CASES:
        records = tab.page.evaluate("(text) => csvRecords(text)", text)
        expected = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
        assert records == expected, text


# ---- setting up without curl: operators, bindings, reservation codes --------------------------

AMALFI = "120363025246125001@g.us"  # a group the WAHA sandbox's phones are in: "Tour Amalfi 12/06"


def test_an_experience_is_bound_to_a_synced_group_and_its_code_registered_in_the_page(
    wedding_tab: Tab,
) -> None:
    tab, stack, page = wedding_tab, wedding_tab.stack, wedding_tab.page
    pair_the_groom(stack)
    suffix = uuid.uuid4().hex[:6]
    desk, tour, code = f"desk-{suffix}", f"amalfi-{suffix}", f"RES-{suffix.upper()}"
    tab.sign_in()
    tab.view("reservations")
    # GIVEN an operator saved from its form
    operator = page.locator("#operator-form")
    operator.locator("[name=operator_id]").fill(desk)
    operator.locator("[name=name]").fill("Amalfi desk")
    operator.get_by_role("button", name="Save operator").click()
    expect(page.locator(f'#operators [data-key="{desk}"]')).to_have_text(
        re.compile(f"^{desk}: Amalfi desk")
    )
    # WHEN an experience is bound to it, its target picked from the groom's synced groups
    binding = page.locator("#binding-form")
    binding.locator("[name=experience_id]").fill(tour)
    binding.locator("[name=operator_id]").select_option(desk)
    binding.locator("[name=sender]").select_option("groom")
    binding.locator(".target-group").select_option(label=f"Tour Amalfi 12/06 ({AMALFI})")
    expect(binding.locator("[name=to]")).to_have_value(AMALFI)
    binding.locator("[name=is_override]").check()
    binding.get_by_role("button", name="Save binding").click()
    # THEN the binding is stored with that group as its target
    expect(page.locator(f'#bindings [data-key="{tour}"]')).to_contain_text(f"{AMALFI} from groom")
    stored = stack.call("GET", f"/v1/experiences/{tour}/binding").json()
    assert stored["target"] == {"sender": "groom", "to": AMALFI} and stored["is_override"]
    # WHEN a code that is not one is saved, THEN the API's words show beside the field
    codes = page.locator("#code-form")
    codes.locator("[name=code]").fill("NOT-A-CODE")
    codes.locator("[name=experience_id]").fill(tour)
    codes.get_by_role("button", name="Save code").click()
    expect(codes.locator(".field-error")).to_contain_text(["not a reservation code"])
    assert tab.errors == [UNPROCESSABLE]
    tab.errors.clear()
    # AND a right one is listed
    codes.locator("[name=code]").fill(code.lower())
    codes.get_by_role("button", name="Save code").click()
    expect(page.locator(f'#codes [data-key="{code}"]')).to_have_text(
        re.compile(f"^{code} → {tour}")
    )
    tab.screenshot("routing")
    # AND the operator cannot be deleted while the experience is bound to it
    page.locator(f'#operators [data-key="{desk}"]').get_by_role("button", name="Delete").click()
    page.click("#confirm-ok")
    expect(page.locator("#notice")).to_contain_text(f"409 operator_in_use: The operator '{desk}'")
    assert tab.errors == [CONFLICT]
    tab.errors.clear()
    # AND once the binding is deleted, it can
    page.locator(f'#bindings [data-key="{tour}"]').get_by_role("button", name="Delete").click()
    page.click("#confirm-ok")
    expect(page.locator(f'#bindings [data-key="{tour}"]')).to_have_count(0)
    page.locator(f'#operators [data-key="{desk}"]').get_by_role("button", name="Delete").click()
    page.click("#confirm-ok")
    expect(page.locator(f'#operators [data-key="{desk}"]')).to_have_count(0)
    assert stack.call("GET", f"/v1/operators/{desk}").status_code == 404
