"""A contact as a route names it: a phone number in any usual spelling, or a WAHA chat id."""

from postino.errors import PostinoError, Problem
from postino.messages.phone import normalise_recipient


def recipient(raw: str | None, *, field: str = "to") -> str | None:
    """Digits for a phone number, the id for a group; 422 naming the field otherwise."""
    if raw is None:
        return None
    if "@" in raw and not raw.endswith("@g.us"):
        return raw  # another WAHA chat id (…@c.us, …@lid): kept as WAHA names it
    try:
        return normalise_recipient(raw)
    except ValueError as error:
        raise PostinoError(
            "invalid_request", f"'{field}' {error}.", 422, [Problem(field, str(error))]
        ) from error
