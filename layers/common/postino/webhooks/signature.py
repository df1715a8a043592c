"""X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body with the app secret."""

import hashlib
import hmac

PREFIX = "sha256="


def sign(raw_body: bytes, app_secret: str) -> str:
    return PREFIX + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def is_valid(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """Verify over the exact bytes Meta sent (never a re-serialised body), in constant time."""
    if not header or not header.startswith(PREFIX) or not app_secret:
        return False
    return hmac.compare_digest(sign(raw_body, app_secret).encode(), header.strip().encode())
