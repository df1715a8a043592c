"""WAHA's bodies and ids: its error bodies, its envelope and message ids, a session's QR code
and the PNG of it."""

import secrets
import struct
import time
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def http_error(http_status: int, message: str | list[str]) -> dict[str, Any]:
    """NestJS's body for an HttpException raised with a message, as WAHA answers most refusals."""
    return {"statusCode": http_status, "message": message, "error": HTTPStatus(http_status).phrase}


# `new UnauthorizedException()` without a message, as WAHA's API-key middleware answers.
UNAUTHORIZED = {"message": "Unauthorized", "statusCode": 401}


def crash(message: str) -> dict[str, Any]:
    """WAHA's body for an unexpected error inside an engine (HTTP 500)."""
    return {
        "statusCode": 500,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "exception": {"message": message, "name": "Error"},
    }


def not_expected(session: str, status: str, expected: list[str]) -> dict[str, Any]:
    """WAHA's 422 when a session is not in a status the call needs (its SessionManager
    waits up to 5 s for it first; the fake answers at once)."""
    return {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": session,
        "status": status,
        "expected": expected,
    }


def no_session(name: str) -> dict[str, Any]:
    return http_error(
        404,
        f"We didn't find a session with name '{name}'.\n"
        f"Please start it first by using POST /api/sessions/{name}/start request",
    )


def qr_png(value: str, size: int = 33) -> bytes:
    """A valid PNG of a pixel grid drawn from the QR text: not scannable, but an image."""
    seed = zlib.crc32(value.encode())
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type: none
        for x in range(size):
            finder = min(x, y) < 7 or (x >= size - 7 and y < 7) or (y >= size - 7 and x < 7)
            bit = (seed >> ((x * 7 + y * 13) % 31)) & 1 if not finder else (x + y) % 2
            row.append(0 if bit else 255)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def event_id() -> str:
    """WAHA's envelope id: evt_ and a lower-case ULID (time, then randomness)."""
    now = int(time.time() * 1000)
    stamp = "".join(_CROCKFORD[(now >> (5 * i)) & 31] for i in reversed(range(10)))
    return "evt_" + stamp + "".join(secrets.choice(_CROCKFORD) for _ in range(16))


def new_qr() -> str:
    """A QR value shaped like WhatsApp Web's: fresh on every start, restart and logout."""
    return "2@" + secrets.token_urlsafe(48)


def message_key() -> str:
    return "3EB0" + secrets.token_hex(8).upper()
