"""/v1/links/verify: is a `{signed_link}` genuine, for its page, and unexpired? For the user's site."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from openapi_errors import OK, error_responses
from pydantic import Field

from postino.clock import iso
from postino.links import signing_key, verify_link
from postino.model import Model
from postino.services import get_services

router = Router()


class LinkVerification(Model):
    valid: bool
    reason: str | None = Field(
        description="Why not: no_token, malformed, bad_signature, or expired (then the fields "
        "below are still given: the link was ours)"
    )
    recipient: str | None
    reference: str | None
    expires_at: str | None


@router.get(
    "/v1/links/verify",
    summary="Check a signed link",
    description="Answers 200 with valid true or false (and why); the comparison is constant-time.",
    responses=OK | error_responses(_422="No url", _503="No signing key in Secrets Manager"),
    tags=["links"],
    operation_id="verifyLink",
)
def verify(url: Annotated[str, Query(min_length=1, max_length=4096)]) -> LinkVerification:
    services = get_services()
    check = verify_link(signing_key(services.settings.link_key_name), url, now=services.clock.now())
    return LinkVerification(
        valid=check.valid,
        reason=check.reason,
        recipient=check.recipient,
        reference=check.reference,
        expires_at=iso(check.expires_at) if check.expires_at is not None else None,
    )
