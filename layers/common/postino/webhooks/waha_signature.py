"""X-Webhook-Hmac: hex HMAC-SHA512 of the raw body with the key set on WAHA's webhook config.

WAHA also sends X-Webhook-Hmac-Algorithm: sha512; it is the only algorithm WAHA uses.
"""

import hashlib
import hmac

HEADER = "X-Webhook-Hmac"


def sign(raw_body: bytes, key: str) -> str:
    return hmac.new(key.encode(), raw_body, hashlib.sha512).hexdigest()


def is_valid(raw_body: bytes, header: str | None, key: str) -> bool:
    """Verify over the exact bytes WAHA sent, in constant time; no key configured means no."""
    if not header or not key:
        return False
    return hmac.compare_digest(sign(raw_body, key).encode(), header.strip().lower().encode())
