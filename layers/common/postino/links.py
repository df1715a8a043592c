"""Signed links: a link to the user's own site that says who it was sent to, until when.

The token rides in the link's query as `pt`: `<payload>.<mac>`, both base64url without padding.
The payload is `<expiry, base 36>~<recipient>~<reference>` (readable by whoever holds the link,
as an invitation link is meant to be: it names its guest); the MAC is HMAC-SHA256 over the
link without its token and the payload, cut to 128 bits, so a token is valid on its own page
only. Verification compares in constant time and reads the payload only once the MAC holds.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from postino import aws
from postino.errors import PostinoError

TOKEN_PARAMETER = "pt"  # noqa: S105 - a query parameter name, not a secret
MAC_BYTES = 16
DOMAIN = b"postino-link-v1\n"
KEY_MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class LinkCheck:
    """What a link says, if it is genuine: `valid`, or the reason it is not."""

    valid: bool
    reason: str | None = None
    recipient: str | None = None
    reference: str | None = None
    expires_at: int | None = None


def signing_key(secret_name: str) -> bytes:
    """The key from Secrets Manager (cached 5 minutes, so a rotation shows within that)."""
    try:
        value: str = aws.secret(secret_name, max_age=KEY_MAX_AGE_SECONDS)
    except GetParameterError:
        raise PostinoError(
            "link_key_missing",
            f"Signed links need a signing key: create the secret '{secret_name}' in Secrets Manager.",
            503,
        ) from None
    return value.encode()


def sign_link(
    key: bytes, url: str, *, recipient: str, reference: str | None, expires_at: int
) -> str:
    """`url` with a token for `recipient` (and `reference`) valid until `expires_at` (epoch s)."""
    payload = _b64(f"{_base36(expires_at)}~{recipient}~{reference or ''}".encode())
    token = f"{payload}.{_b64(_mac(key, _without_token(url), payload))}"
    query = [*_query(url), (TOKEN_PARAMETER, token)]
    return urlunsplit(urlsplit(url)._replace(query=urlencode(query)))


def verify_link(key: bytes, url: str, *, now: float) -> LinkCheck:
    """Is `url` a link we signed, for its page, and not expired?"""
    tokens = [v for k, v in _query(url) if k == TOKEN_PARAMETER]
    if len(tokens) != 1:
        return LinkCheck(False, "no_token" if not tokens else "malformed")
    payload, _, mac = tokens[0].partition(".")
    try:
        given = _unb64(mac)
    except ValueError:  # binascii.Error is one
        return LinkCheck(False, "malformed")
    if not hmac.compare_digest(given, _mac(key, _without_token(url), payload)):
        return LinkCheck(False, "bad_signature")
    expiry, recipient, reference = _unb64(payload).decode().split("~", 2)
    expires_at = int(expiry, 36)
    reason = None if now < expires_at else "expired"
    return LinkCheck(reason is None, reason, recipient, reference or None, expires_at)


def _mac(key: bytes, page: str, payload: str) -> bytes:
    message = DOMAIN + page.encode() + b"\n" + payload.encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def _without_token(url: str) -> str:
    query = [(k, v) for k, v in _query(url) if k != TOKEN_PARAMETER]
    return urlunsplit(urlsplit(url)._replace(query=urlencode(query), fragment=""))


def _query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out
