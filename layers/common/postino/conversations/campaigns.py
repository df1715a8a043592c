"""A campaign's report: its messages counted by status, failures by error code, replies, and
the reply buttons pressed (the wedding's "Ci sarò" / "Non posso")."""

from collections import Counter
from typing import Any

from pydantic import Field

from postino.errors import PostinoError
from postino.messages.model import Status
from postino.model import Model
from postino.services import Services
from postino.store.campaigns import campaign_rows

# What the report names "queued": accepted and not yet gone (waiting, or being sent).
NOT_YET_SENT = {Status.SCHEDULED, Status.QUEUED, Status.SENDING}


class ButtonCount(Model):
    id: str
    title: str | None
    count: int


class CampaignReport(Model):
    campaign: str
    total: int
    statuses: dict[str, int] = Field(
        description="queued (not sent yet), sent, delivered, read, failed, unknown, cancelled, "
        "expired: each message once, as it is now"
    )
    failed_by_code: dict[str, int] = Field(description="Failed messages by Meta's error code")
    replied: int = Field(description="Messages answered (a reply quoting them, or a button)")
    buttons: list[ButtonCount] = Field(description="Reply buttons pressed, each guest's latest")


def campaign_report(services: Services, campaign: str) -> CampaignReport:
    rows = campaign_rows(services.messages.table, campaign)
    if not rows:
        raise PostinoError("not_found", f"No message was sent with campaign '{campaign}'.", 404)
    statuses: Counter[str] = Counter({_reported(Status(s)): 0 for s in Status})
    failed: Counter[str] = Counter()
    buttons: Counter[str] = Counter()
    titles: dict[str, str | None] = {}
    for row in rows:
        status = Status(row["status"])
        statuses[_reported(status)] += 1
        if status is Status.FAILED:
            failed[str((row.get("error") or {}).get("code", "none"))] += 1
        button: dict[str, Any] = row.get("reply_button") or {}
        if button.get("id"):
            buttons[str(button["id"])] += 1
            titles[str(button["id"])] = button.get("title")
    return CampaignReport(
        campaign=campaign,
        total=len(rows),
        statuses=dict(statuses),
        failed_by_code=dict(failed),
        replied=sum(1 for row in rows if row.get("replied_at") is not None),
        buttons=[
            ButtonCount(id=button, title=titles[button], count=count)
            for button, count in buttons.most_common()
        ],
    )


def _reported(status: Status) -> str:
    return "queued" if status in NOT_YET_SENT else str(status)
