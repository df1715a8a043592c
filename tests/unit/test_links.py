"""Signed links: who a link was sent to, until when, for which page; nothing else verifies."""

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from postino.links import LinkCheck, sign_link, verify_link

KEY = b"a-long-random-signing-key"
PAGE = "https://sara-e-marco.it/rsvp?lang=it"
EXPIRES = 1_800_000_000


def signed(**overrides: object) -> str:
    fields: dict[str, object] = {
        "recipient": "393331234567",
        "reference": "wedding",
        "expires_at": EXPIRES,
    } | overrides
    return sign_link(KEY, PAGE, **fields)  # type: ignore[arg-type]


def test_a_signed_link_names_its_recipient_and_reference_until_it_expires() -> None:
    link = signed()
    assert link.startswith(PAGE + "&pt=")
    check = verify_link(KEY, link, now=EXPIRES - 1)
    assert check.valid and check.reason is None
    assert (check.recipient, check.reference, check.expires_at) == (
        "393331234567",
        "wedding",
        EXPIRES,
    )
    expired = verify_link(KEY, link, now=EXPIRES)
    assert not expired.valid and expired.reason == "expired"


def test_the_token_is_short_and_url_safe() -> None:
    token = signed(reference="r" * 20).split("&pt=")[1]
    assert len(token) < 80
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda link: link.replace("rsvp", "admin"), "bad_signature"),  # another page
        (lambda link: link.replace("lang=it", "lang=en"), "bad_signature"),  # another query
        (lambda link: link[:-2] + ("AA" if not link.endswith("AA") else "BB"), "bad_signature"),
        (lambda link: link.split("&pt=")[0], "no_token"),
        (lambda link: link + "&pt=x.y", "malformed"),
        (lambda link: link.split("&pt=")[0] + "&pt=", "malformed"),
        (lambda link: link.split("&pt=")[0] + "&pt=abc.!!", "malformed"),
        (lambda link: link + ".AAAA", "malformed"),  # a second dot: the MAC is not base64url
    ],
)
def test_a_changed_link_is_refused_with_its_reason(
    tamper: Callable[[str], str], reason: str
) -> None:
    assert verify_link(KEY, tamper(signed()), now=0) == LinkCheck(False, reason)


def test_another_recipient_in_the_payload_breaks_the_signature() -> None:
    mine, theirs = signed(), signed(recipient="393339999999")
    # their payload with my MAC, on the same page
    payload_theirs = theirs.split("&pt=")[1].split(".")[0]
    mac_mine = mine.split("&pt=")[1].split(".")[1]
    forged = PAGE + f"&pt={payload_theirs}.{mac_mine}"
    assert verify_link(KEY, forged, now=0).reason == "bad_signature"


def test_another_key_does_not_verify_and_a_fragment_does_not_matter() -> None:
    assert verify_link(b"another-key", signed(), now=0).reason == "bad_signature"
    assert verify_link(KEY, signed() + "#top", now=0).valid


def test_a_link_without_reference_and_a_page_without_query() -> None:
    link = sign_link(KEY, "https://example.com/i", recipient="1@g.us", reference=None, expires_at=9)
    check = verify_link(KEY, link, now=0)
    assert check.valid and check.reference is None and check.recipient == "1@g.us"


# Known answers, computed outside postino from the format in the module's docstring (see
# `documented_token`): the payload `tro8w0` is 1_800_000_000 in base 36; "table~W" gives a
# payload whose base64url ends in "X" and holds a "~"; the 20-byte payload needs 1 "=" of padding.
VECTORS = [
    pytest.param(
        PAGE,
        "393331234567",
        "table~W",
        EXPIRES,
        "tro8w0~393331234567~table~W",
        PAGE + "&pt=dHJvOHcwfjM5MzMzMTIzNDU2N350YWJsZX5X.u-Fj8ieJ1V7UHrZsl8OQoA",
        id="reference-with-tilde",
    ),
    pytest.param(
        "https://example.com/i#top",
        "393331234567",
        None,
        EXPIRES,
        "tro8w0~393331234567~",
        "https://example.com/i?pt=dHJvOHcwfjM5MzMzMTIzNDU2N34.mZD2J7ehfOUxLLbomFLtBw#top",
        id="no-reference-and-a-fragment",
    ),
    pytest.param(
        "https://example.com/i",
        "120363012345678901@g.us",
        "rsvp",
        9,
        "9~120363012345678901@g.us~rsvp",
        "https://example.com/i?pt=OX4xMjAzNjMwMTIzNDU2Nzg5MDFAZy51c35yc3Zw.Q-xOfEMJ8CJjT7QmdXLd0g",
        id="group-and-one-digit-expiry",
    ),
]


def documented_token(page: str, payload_text: str) -> str:
    """`<payload>.<mac>` by the docstring, with hmac and hashlib only."""
    payload = base64.urlsafe_b64encode(payload_text.encode()).rstrip(b"=")
    message = b"postino-link-v1\n" + page.encode() + b"\n" + payload
    mac = hmac.new(KEY, message, hashlib.sha256).digest()[:16]
    return f"{payload.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    ("page", "recipient", "reference", "expires_at", "payload_text", "link"), VECTORS
)
def test_a_signed_link_is_the_documented_known_answer(
    page: str,
    recipient: str,
    reference: str | None,
    expires_at: int,
    payload_text: str,
    link: str,
) -> None:
    # GIVEN a page and what the link says; WHEN it is signed
    signed_link = sign_link(
        KEY, page, recipient=recipient, reference=reference, expires_at=expires_at
    )
    # THEN the link is the known answer, whose token follows the docstring (fragment left out)
    assert signed_link == link
    token = link.split("pt=")[1].split("#")[0]
    assert token == documented_token(page.split("#")[0], payload_text)


@pytest.mark.parametrize(
    ("page", "recipient", "reference", "expires_at", "payload_text", "link"), VECTORS
)
def test_a_known_answer_link_verifies_with_what_it_says(
    page: str,
    recipient: str,
    reference: str | None,
    expires_at: int,
    payload_text: str,
    link: str,
) -> None:
    # WHEN a link signed outside postino by the documented format is verified before it expires
    check = verify_link(KEY, link, now=expires_at - 1)
    # THEN it is valid and gives back its recipient, reference (a "~" in it kept) and expiry
    assert check == LinkCheck(True, None, recipient, reference, expires_at)
