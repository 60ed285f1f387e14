"""Number normalisation: the table from issue 3 and DESIGN §1, decorations, refusals."""

from __future__ import annotations

import pytest

from frontdesk.errors import ConfigError, FrontdeskError, InvalidNumber
from frontdesk.tenancy.numbers import normalize_number

NORMALISED = [
    # the table: three spellings of one Florence number
    ("+39 055 1234567", "IT", "+390551234567"),
    ("0039 055 1234567", "IT", "+390551234567"),
    ("055 1234567", "IT", "+390551234567"),
    # DESIGN §1's spellings
    ("+390551234567", "IT", "+390551234567"),
    ("00390551234567", "IT", "+390551234567"),
    ("0551234567", "IT", "+390551234567"),
    # decorations a PBX or a person adds
    ("(055) 123-4567", "IT", "+390551234567"),
    ("055.123.4567", "IT", "+390551234567"),
    ("055/1234567", "IT", "+390551234567"),
    ("  +39 (0)55-123 4567 ", "IT", "+390551234567"),
    ("sip:+390551234567@10.0.0.1;user=phone", "IT", "+390551234567"),
    ("tel:+39-055-1234567", "IT", "+390551234567"),
    ("%2B390551234567", "IT", "+390551234567"),
    ("sip:%2B39%200551234567@pbx", "IT", "+390551234567"),
    # mobile, other countries, another default country
    ("333 1234567", "IT", "+393331234567"),
    ("+44 20 7946 0958", "IT", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("(650) 253-0000", "us", "+16502530000"),
    ("00 1 650 253 0000", "IT", "+16502530000"),
    # short extensions stay as they are
    ("1000", "IT", "1000"),
    ("200", "IT", "200"),
    ("1", "IT", "1"),
    ("123456", "IT", "123456"),
    ("sip:1000@127.0.0.1", "IT", "1000"),
]


@pytest.mark.parametrize(("raw", "country", "expected"), NORMALISED)
def test_normalises(raw: str, country: str, expected: str) -> None:
    assert normalize_number(raw, country) == expected


@pytest.mark.parametrize(("raw", "country", "expected"), NORMALISED)
def test_normalising_is_idempotent(raw: str, country: str, expected: str) -> None:
    assert normalize_number(expected, country) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "1-800-FLOWERS",
        "+39",
        "+",
        "+0039",
        "+39 055 1234567 ext 12",
        "055 1234567; DROP TABLE sip_numbers",
        "12345678901234567890",
        "+999 123",
        "++390551234567",
        "39+0551234567",
        "+391234",  # too short for an Italian number
        "sip:+39@pbx",  # a SIP user part that is neither
        "sip:@pbx",
        "x" * 500,
    ],
)
def test_refuses_garbage_naming_the_value(raw: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize_number(raw, "IT")
    assert caught.value.value == raw
    assert repr(raw[:20])[:-1] in str(caught.value)
    assert isinstance(caught.value, FrontdeskError)


def test_long_garbage_is_shown_truncated() -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize_number("9" * 30 + "a" * 200, "IT")
    assert len(str(caught.value)) < 120


def test_unknown_default_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'XX'"):
        normalize_number("055 1234567", "XX")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("+999 1234567", "unknown country code"), ("0551234567890123456789", "too long")],
)
def test_refusal_says_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber, match=reason):
        normalize_number(raw, "IT")
