"""Both webhook signatures against answers known from outside the product.

Every hex below was computed once with openssl, never with the product's sign():
  printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$KEY"   (Meta; -sha512 for WAHA)
A test whose expected value comes from sign() agrees with any sign(), right or wrong.
"""

import json

import pytest

from postino.webhooks import signature as meta
from postino.webhooks import waha_signature as waha

# An inbound text as Meta sends it: compact JSON, the text in UTF-8 ("ò" is two bytes, the
# emoji four), so a body re-encoded any other way does not verify.
META_BODY = (
    '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":'
    '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",'
    '"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Giulia"},'
    '"wa_id":"393331234567"}],"messages":[{"from":"393331234567",'
    '"id":"wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhgUM0VCMEM3RjE5QTc2","timestamp":"1795600000",'
    '"type":"text","text":{"body":"Ci sarò! 🎉"}}]},"field":"messages"}]}]}'
).encode()
APP_SECRET = "0123456789abcdef-app-secret"
META_HEADER = "sha256=26cd24ef2138860d91eee14ceb031f1f7cd7412145b5e983cee8d4d50815f9b5"
# The same body under the key "another-app-secret" and under "", and Meta's legacy
# X-Hub-Signature (HMAC-SHA1, the app secret).
META_HEADER_OTHER_SECRET = "sha256=b62632bfb2b644f609381bd6b872449d72a711fd252b895d5ba354f9d794e060"
META_HEADER_EMPTY_SECRET = "sha256=f4f785f7e073c88e5ec3390258934090546619143672cfcd52d3a1edb8e8ca52"
META_SHA1_HEADER = "sha1=f27ae35b3b3315ef61af3b1fa59fe0dd916bcc00"

# WAHA's worked example, from its webhook docs (HMAC authentication).
WAHA_BODY = b'{"event":"message","session":"default","engine":"WEBJS"}'
WAHA_KEY = "my-secret-key"
WAHA_HEADER = (
    "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8"
    "097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89"
)
WAHA_HEADER_OTHER_KEY = (  # key "another-secret-key"
    "f039f5f3f38e47aea19760dc5a25ee9de9fe7d9337bebcfe64bb23e1673b1e6d"
    "0b3d83479cdc0467c39bd87735a0504f3ef16a658028117328138359bcc4fd14"
)
WAHA_HEADER_EMPTY_KEY = (
    "5f83a5241e826b34925f7378907c0dcb4ca910c991f80c27935190d199e4a659"
    "9c1e94d2ca8ae6d4db3d31bd768bbbd698ae70c220ec8fc2c2dc6d5b94cf2d72"
)
WAHA_SHA256_HEADER = "46270e6ad829217a54d67026afb4ef20e76d3a4ea36d64b140834b5fb3e8b83a"


def one_bit_flipped(body: bytes, at: int) -> bytes:
    return body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]


# 🎉 becomes 🎈: still valid UTF-8 and JSON, one byte apart.
META_BODY_CHANGED = one_bit_flipped(META_BODY, META_BODY.index("🎉".encode()) + 3)
WAHA_BODY_CHANGED = one_bit_flipped(WAHA_BODY, WAHA_BODY.index(b"WEBJS"))  # VEBJS
# What a re-serialisation sends: the same JSON, its non-ASCII escaped (\u00f2, \ud83c\udf89).
META_BODY_RESERIALISED = json.dumps(json.loads(META_BODY), separators=(",", ":")).encode()


def test_meta_sign_gives_the_known_answer_over_the_raw_bytes() -> None:
    assert len(META_BODY) == 466  # the bytes openssl signed
    assert meta.sign(META_BODY, APP_SECRET) == META_HEADER


def test_meta_accepts_its_header_for_the_exact_bytes() -> None:
    assert meta.is_valid(META_BODY, META_HEADER, APP_SECRET)


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        pytest.param(META_BODY_CHANGED, META_HEADER, id="one byte of the body changed"),
        pytest.param(META_BODY_RESERIALISED, META_HEADER, id="the same JSON re-serialised"),
        pytest.param(META_BODY, META_HEADER_OTHER_SECRET, id="signed with another secret"),
        pytest.param(META_BODY, META_SHA1_HEADER, id="the legacy sha1 header"),
        pytest.param(
            META_BODY, META_HEADER.removeprefix("sha256="), id="the hex without its prefix"
        ),
        pytest.param(META_BODY, META_HEADER[:-1], id="truncated by one digit"),
        pytest.param(META_BODY, "sha256=", id="the prefix alone"),
        # Meta sends "sha256=" and lower-case hex; the check is exact, as it is over the bytes.
        pytest.param(META_BODY, META_HEADER.upper(), id="all upper case"),
        pytest.param(
            META_BODY, "sha256=" + META_HEADER.removeprefix("sha256=").upper(), id="upper-case hex"
        ),
        pytest.param(META_BODY, None, id="no header"),
        pytest.param(META_BODY, "", id="an empty header"),
    ],
)
def test_meta_refuses_what_is_not_its_signature_of_these_bytes(
    raw: bytes, header: str | None
) -> None:
    assert not meta.is_valid(raw, header, APP_SECRET)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(META_HEADER_EMPTY_SECRET, id="signed with the empty secret, as anyone can"),
        pytest.param(META_HEADER, id="right for the real secret"),
    ],
)
def test_meta_with_no_app_secret_refuses_every_header(header: str) -> None:
    # GIVEN the app secret is not set up ("" is what the route gets then)
    # THEN nothing verifies: an empty key is a key anyone can sign with
    assert not meta.is_valid(META_BODY, header, "")


def test_waha_sign_gives_its_documented_answer() -> None:
    assert waha.sign(WAHA_BODY, WAHA_KEY) == WAHA_HEADER


def test_waha_accepts_its_header_in_either_case() -> None:
    assert waha.is_valid(WAHA_BODY, WAHA_HEADER, WAHA_KEY)
    # The route lower-cases the hex before comparing: upper-case hex is the same digest.
    assert waha.is_valid(WAHA_BODY, WAHA_HEADER.upper(), WAHA_KEY)


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        pytest.param(WAHA_BODY_CHANGED, WAHA_HEADER, id="one byte of the body changed"),
        pytest.param(WAHA_BODY, WAHA_HEADER_OTHER_KEY, id="signed with another key"),
        pytest.param(WAHA_BODY, WAHA_SHA256_HEADER, id="HMAC-SHA256, not SHA512"),
        pytest.param(WAHA_BODY, "sha512=" + WAHA_HEADER, id="a prefix WAHA does not send"),
        pytest.param(WAHA_BODY, WAHA_HEADER[:-1], id="truncated by one digit"),
        pytest.param(WAHA_BODY, WAHA_HEADER[:64], id="half the digest"),
        pytest.param(WAHA_BODY, None, id="no header"),
        pytest.param(WAHA_BODY, "", id="an empty header"),
    ],
)
def test_waha_refuses_what_is_not_its_signature_of_these_bytes(
    raw: bytes, header: str | None
) -> None:
    assert not waha.is_valid(raw, header, WAHA_KEY)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(WAHA_HEADER_EMPTY_KEY, id="signed with the empty key, as anyone can"),
        pytest.param(WAHA_HEADER, id="right for the real key"),
    ],
)
def test_waha_with_no_key_refuses_every_header(header: str) -> None:
    assert not waha.is_valid(WAHA_BODY, header, "")
