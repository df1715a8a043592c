"""What a sender's settings may point at: a secret under the stack's prefix that is none of the
stack's own, and a WAHA the operator allowed. Pure functions over Settings: no AWS here."""

import pytest

from postino.errors import PostinoError, Problem
from postino.senders.allowed import (
    check_sender_secret,
    check_waha_base_url,
    secret_names_of,
    waha_url_allowed,
)
from postino.settings import Settings

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
APP_SECRET = "postino/meta/app-secret"  # ends in '-' and six characters, like a random suffix
STACK = Settings(
    secrets_prefix="postino/",
    app_secret_name=APP_SECRET,
    verify_token_name="postino/meta/verify-token",
    waha_hmac_key_name="postino/waha/webhook-hmac-key",
    link_key_name="postino/links/signing-key",
)
OWN_SECRET = (
    "names one of the stack's own secrets (webhook signatures, the verify token, the link key), "
    "which no sender may use"
)
OUTSIDE_PREFIX = (
    "must be the name or ARN of a Secrets Manager secret under 'postino/', which is all the "
    "functions are allowed to read"
)


def refusal(field: str, secret: str, settings: Settings = STACK) -> PostinoError:
    with pytest.raises(PostinoError) as raised:
        check_sender_secret(field, secret, settings)
    return raised.value


@pytest.mark.parametrize(
    ("secret", "names"),
    [
        ("postino/senders/studio", {"postino/senders/studio"}),
        (
            f"{ARN}postino/senders/studio-AbC123",
            {"postino/senders/studio-AbC123", "postino/senders/studio"},
        ),
        # a partial ARN (no random suffix) whose name ends like one: both readings count
        (f"{ARN}{APP_SECRET}", {APP_SECRET, "postino/meta/app"}),
        (f"{ARN}postino/x", {"postino/x"}),
        # only the part after the first ':secret:' of an ARN is a name
        (f"{ARN}postino/a:secret:b", {"postino/a:secret:b"}),
        # not an ARN: taken as the name it is, colons and all
        (
            "postino/senders/a:secret:postino/meta/app-secret",
            {"postino/senders/a:secret:postino/meta/app-secret"},
        ),
        (
            "ARN:aws:secretsmanager:us-east-1:1:secret:x-AbC123",
            {"ARN:aws:secretsmanager:us-east-1:1:secret:x-AbC123"},
        ),
        ("arn:aws:s3:::postino-bucket", {"arn:aws:s3:::postino-bucket"}),
    ],
)
def test_the_names_a_secret_setting_can_stand_for(secret: str, names: set[str]) -> None:
    assert secret_names_of(secret) == names


@pytest.mark.parametrize(
    "secret",
    [
        "postino/senders/studio-token",
        f"{ARN}postino/senders/studio-token-AbC123",
        f"{ARN}postino/senders/studio-token",
    ],
)
def test_a_sender_s_own_secret_under_the_prefix_is_taken(secret: str) -> None:
    check_sender_secret("access_token_secret", secret, STACK)


@pytest.mark.parametrize(
    "secret",
    [
        "other/meta/access-token",
        f"{ARN}other/meta/access-token-AbC123",
        "postino",  # the prefix without its slash is not under it
        "Postino/senders/x",  # the prefix is case-sensitive
    ],
)
def test_a_secret_outside_the_prefix_is_refused_with_the_prefix_named(secret: str) -> None:
    refused = refusal("api_key_secret", secret)
    assert (refused.code, refused.status) == ("invalid_field", 422)
    assert refused.details == [Problem("api_key_secret", OUTSIDE_PREFIX)]


@pytest.mark.parametrize(
    "secret",
    [
        APP_SECRET,
        "postino/meta/verify-token",
        "postino/waha/webhook-hmac-key",
        "postino/links/signing-key",
        f"{ARN}postino/links/signing-key-AbC123",
        f"{ARN}{APP_SECRET}-AbC123",
        f"{ARN}{APP_SECRET}",  # a partial ARN: Secrets Manager finds the secret by it
    ],
)
def test_a_stack_secret_by_name_or_arn_is_refused_for_any_sender(secret: str) -> None:
    refused = refusal("access_token_secret", secret)
    assert (refused.code, refused.status) == ("secret_not_allowed", 422)
    assert refused.details == [Problem("access_token_secret", OWN_SECRET)]


def test_a_stack_secret_name_left_unset_refuses_nothing() -> None:
    # GIVEN a stack with no prefix and none of its own secret names set
    bare = Settings(
        secrets_prefix="",
        app_secret_name="",
        verify_token_name="",
        waha_hmac_key_name="",
        link_key_name="",
    )
    # WHEN a sender names an ARN with an empty name THEN it is not taken for an unset stack secret
    check_sender_secret("access_token_secret", ARN, bare)


@pytest.mark.parametrize(
    ("base_url", "allowed", "expected"),
    [
        ("http://waha.internal:3000", "http://waha.internal:3000", True),
        ("https://waha.example", "https://waha.example", True),  # no port on either side
        ("https://waha.example", "https://waha.example:443", False),
        ("https://waha.example:443", "https://waha.example", False),
        ("http://waha.internal:3000", "http://waha.internal:3000/", True),  # a trailing slash
        ("http://waha.internal:3000", "http://WAHA.Internal:3000", True),  # hosts have no case
        ("HTTP://WAHA.INTERNAL:3000", "http://waha.internal:3000", True),
        ("http://bo", "http://BOX", False),
        ("http://a:1", "http://b:2,http://a:1", True),  # a list without spaces
        ("http://b:2", "http://b:2,http://a:1", True),
        ("http://c:3", " http://b:2 , , http://a:1 ", False),
        ("http://10.0.3.7:3000", "http://10.0.*.*:3000", True),
        ("http://10.0.3.7:3000", "http://10.0.3.*", False),  # `*` is one label, not the port
        ("http://10.0.3:3000", "http://10.0.*.*:3000", False),
        ("http://waha:41234", "http://waha:*", True),
        ("http://waha", "http://waha:*", False),
        ("http://waha:3000", "http://*", False),
        ("http://waha.evil:3000", "http://*:3000", False),
        ("http://*:3000", "http://waha:3000", False),
        ("http://waha:3000", "", False),
        ("http://waha:notaport", "http://waha:*", False),
        ("http://[::1", "http://*", False),
        ("http://:3000", "http://*:3000", False),  # no host at all
        ("http://user@waha:3000", "http://waha:3000", False),  # credentials: a user alone
        ("http://:pw@waha:3000", "http://waha:3000", False),  # or a password alone
        ("http://user:pw@waha:3000", "http://waha:3000", False),
    ],
)
def test_a_waha_base_url_is_allowed_by_scheme_host_and_port_only(
    base_url: str, allowed: str, expected: bool
) -> None:
    assert waha_url_allowed(base_url, allowed) is expected


def test_an_allowed_waha_base_url_passes_the_check() -> None:
    check_waha_base_url(
        "http://waha.internal:3000/api",
        Settings(waha_allowed_base_urls="http://waha.internal:3000"),
    )


@pytest.mark.parametrize(
    ("allowed", "said"),
    [
        ("http://waha.internal:3000", "http://waha.internal:3000"),
        ("", "none: the stack allows no WAHA yet"),
    ],
)
def test_a_waha_not_allowed_is_refused_naming_what_the_stack_allows(
    allowed: str, said: str
) -> None:
    with pytest.raises(PostinoError) as raised:
        check_waha_base_url("http://elsewhere:3000", Settings(waha_allowed_base_urls=allowed))
    assert (raised.value.code, raised.value.status) == ("base_url_not_allowed", 422)
    problem = f"is not a WAHA this stack may call (WahaAllowedBaseUrls: {said})"
    assert raised.value.details == [Problem("base_url", problem)]
