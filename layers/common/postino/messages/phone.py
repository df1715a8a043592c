"""Recipients' phone numbers."""

import re

_TOLERATED = re.compile(r"[\s\-().]")
# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits, which Meta refuses.
_DIGITS = re.compile(r"[0-9]{8,15}")
# A WhatsApp group's id, as WAHA names it: digits (older groups: creator-timestamp) then @g.us.
_GROUP = re.compile(r"[0-9]{5,30}(-[0-9]{5,20})?@g\.us")


def is_group(recipient: str) -> bool:
    return recipient.endswith("@g.us")


def normalise_recipient(raw: str) -> str:
    """A phone number (as normalise_phone) or a WhatsApp group id (…@g.us), kept as it is."""
    if is_group(raw.strip()):
        if not _GROUP.fullmatch(raw.strip()):
            raise ValueError("a group id looks like 120363012345678901@g.us")
        return raw.strip()
    return normalise_phone(raw)


def normalise_phone(raw: str) -> str:
    """E.164 with or without '+', spaces, dashes and brackets tolerated → digits only.

    Raises ValueError with a sentence for a person when it is not a phone number.
    """
    candidate = _TOLERATED.sub("", raw.strip())
    candidate = candidate.removeprefix("+")
    if candidate.startswith("00"):
        candidate = candidate[2:]
    if not _DIGITS.fullmatch(candidate):
        raise ValueError(
            "must be a phone number in international format (E.164), 8 to 15 digits, "
            "such as +39 333 123 4567"
        )
    if candidate.startswith("0"):
        raise ValueError("must start with the country code, not with 0")
    return candidate
