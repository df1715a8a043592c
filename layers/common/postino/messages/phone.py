"""Recipients' phone numbers."""

import re

_TOLERATED = re.compile(r"[\s\-().]")
# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits, which Meta refuses.
_DIGITS = re.compile(r"[0-9]{8,15}")


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
