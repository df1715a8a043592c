import pytest

from postino.messages.phone import normalise_phone


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("+39 333 123 4567", "393331234567"),
        ("393331234567", "393331234567"),
        ("+1 (415) 555-0100", "14155550100"),
        ("0044 20 7946 0958", "442079460958"),
        ("+49-151-2345-6789", "4915123456789"),
    ],
)
def test_accepted_formats_are_stored_as_digits(raw: str, digits: str) -> None:
    assert normalise_phone(raw) == digits


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "+",
        "1234567",
        "1234567890123456",
        "+39 333 abc 4567",
        "٣٩٣٣٣١٢٣٤٥٦٧",
        "+0 333 123 4567",
        "39333123456７",
    ],
)
def test_anything_else_is_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(ValueError, match="must"):
        normalise_phone(raw)
