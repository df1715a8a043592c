"""Meta's Graph API errors as the local peer and the Meta sandbox answer them: the codes
Postino reacts to, their titles, the HTTP status of each, and Meta's error body."""

import secrets
from typing import Any

# Meta's own titles for the codes Postino reacts to.
ERROR_TITLES: dict[int, str] = {
    0: "AuthException",
    1: "API Unknown",
    2: "API Service",
    4: "API Too Many Calls",
    100: "Invalid parameter",
    190: "Invalid OAuth access token",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131005: "Access denied",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131031: "Account has been locked",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
}
# The HTTP status Meta answers each code with (400 for the rest).
ERROR_HTTP_STATUS: dict[int, int] = {
    190: 401,
    0: 401,
    4: 429,
    80007: 429,
    130429: 429,
    131056: 429,
    1: 500,
    2: 503,
    131000: 500,
    131016: 503,
}


def graph_error(code: int, details: str, message: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message or f"({'#' + str(code)}) {ERROR_TITLES.get(code, 'Error')}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "error_user_title": ERROR_TITLES.get(code, "Error"),
            "error_user_msg": details,
            "fbtrace_id": secrets.token_urlsafe(16),
        }
    }
