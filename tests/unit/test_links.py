"""Signed links: who a link was sent to, until when, for which page; nothing else verifies."""

from collections.abc import Callable

import pytest

from postino.links import sign_link, verify_link

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
    ],
)
def test_a_changed_link_is_refused_with_its_reason(
    tamper: Callable[[str], str], reason: str
) -> None:
    check = verify_link(KEY, tamper(signed()), now=0)
    assert not check.valid and check.reason == reason and check.recipient is None


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
