"""What a sender's settings may point at: only secrets meant for senders, only WAHAs the
operator allowed. A sender is user input, and the functions act on it with their own rights:
without these checks one API key could have a function send any stack secret to any URL."""

import re
from urllib.parse import urlsplit

from postino.errors import invalid
from postino.settings import Settings

# A Secrets Manager ARN ends in the name, a dash and six random characters.
_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


def secret_names_of(secret: str) -> set[str]:
    """The names a sender's secret setting may name, from a name or an ARN. An ARN's name is
    read with and without what looks like the random suffix: a partial ARN has none, and Secrets
    Manager finds `…:secret:postino/meta/app-secret` though its name ends like one."""
    if secret.startswith("arn:") and ":secret:" in secret:
        name = secret.split(":secret:", 1)[1]
        return {name, _ARN_SUFFIX.sub("", name)}
    return {secret}


def check_sender_secret(field: str, secret: str, settings: Settings) -> None:
    """A sender's token or key: under the stack's prefix, and none of the stack's own secrets."""
    names = secret_names_of(secret)
    prefix = settings.secrets_prefix
    if not all(name.startswith(prefix) for name in names):
        raise invalid(
            field,
            f"must be the name or ARN of a Secrets Manager secret under '{prefix}', "
            "which is all the functions are allowed to read",
        )
    stack_secrets = {
        settings.app_secret_name,
        settings.verify_token_name,
        settings.waha_hmac_key_name,
        settings.link_key_name,
    } - {""}
    if names & stack_secrets:
        raise invalid(
            field,
            "names one of the stack's own secrets (webhook signatures, the verify token, the "
            "link key), which no sender may use",
            code="secret_not_allowed",
        )


def _origin_pattern(pattern: str) -> re.Pattern[str]:
    # `*` stands for one label of the host, or the port: never a `.`, `:`, `/` or `@`. Lower
    # case, as urlsplit gives the scheme and host it is matched against.
    return re.compile(
        "".join("[^./:@]*" if c == "*" else re.escape(c) for c in pattern.rstrip("/").lower())
    )


def waha_url_allowed(base_url: str, allowed: str) -> bool:
    """Whether `base_url`'s scheme, host and port match one of `allowed` (comma-separated
    patterns, the stack's WahaAllowedBaseUrls). A URL with credentials in it never does."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return False
    origin = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port is not None else "")
    patterns = [p.strip() for p in allowed.split(",") if p.strip()]
    return any(_origin_pattern(p).fullmatch(origin) for p in patterns)


def check_waha_base_url(base_url: str, settings: Settings) -> None:
    if not waha_url_allowed(base_url, settings.waha_allowed_base_urls):
        allowed = settings.waha_allowed_base_urls or "none: the stack allows no WAHA yet"
        raise invalid(
            "base_url",
            f"is not a WAHA this stack may call (WahaAllowedBaseUrls: {allowed})",
            code="base_url_not_allowed",
        )
