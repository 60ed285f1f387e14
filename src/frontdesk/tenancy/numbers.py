"""Phone number normalisation: every number frontdesk stores or looks up goes through here.

Owns: turning what a PBX, an operator or a tenant typed into one canonical form, E.164
(`+390551234567`), or a short extension kept as digits (`1000`). `+39 055 1234567`,
`0039 055 1234567` and `055 1234567` (default country IT) are one number.

Must not: touch the database, log, or guess. Input that is not a number is refused with
`InvalidNumber`, whose message names the value (the issue asks for that: the value is what
an operator typed, and they need to see which one was wrong).

Validity is checked with `is_possible_number` (length per country), not `is_valid_number`
(assigned ranges): a PBX may carry numbers from ranges newer than the metadata, and refusing
a real number at call time is worse than storing a well-formed unassigned one.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import phonenumbers

from frontdesk.errors import ConfigError, InvalidNumber

#: digits only, at most this many: a PBX extension, kept as it is
MAX_EXTENSION_DIGITS = 6

_SCHEME = re.compile(r"^(?:sips?|tel):", re.IGNORECASE)
_DECORATION = re.compile(r"[\s\-.()/]")
_ALLOWED = re.compile(r"^\+?[0-9]+$")
_SHOWN_MAX = 64  # a refused value is shown up to this many characters


_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the 00 prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= _SHOWN_MAX else raw[:_SHOWN_MAX] + "…")


def _strip_sip(raw: str) -> str:
    """`sip:+39055…@pbx;user=phone` → `+39055…`: the user part of a SIP or tel URI.

    Percent-escapes are decoded first: a Request-URI user part may carry `%2B39…`.
    """
    text = unquote(raw).strip() if "%" in raw else raw.strip()
    if _SCHEME.match(text) or "@" in text:
        text = _SCHEME.sub("", text)
        for separator in ("@", ";"):
            text = text.split(separator, 1)[0]
    return text


def normalize_number(raw: str, default_country: str) -> str:
    """Return `raw` as E.164, or as a short extension (digits only, up to 6 digits).

    Spaces, dashes, dots, slashes, parentheses, percent-escapes and a `sip:`/`tel:` URI
    around the user part are tolerated. National numbers are read in `default_country`
    (ISO 3166 alpha-2). Raises `InvalidNumber` naming the value for anything else, and
    `ConfigError` for an unknown default country.
    """
    region = default_country.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"default country {default_country!r} is not an ISO 3166 region code")
    compact = _DECORATION.sub("", _strip_sip(raw))
    if not _ALLOWED.match(compact):
        raise InvalidNumber(f"{_shown(raw)} is not a phone number", raw)
    if compact.isdigit() and len(compact) <= MAX_EXTENSION_DIGITS:
        return compact
    try:
        parsed = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "unreadable")
        raise InvalidNumber(f"{_shown(raw)} is not a phone number ({reason})", raw) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(
            f"{_shown(raw)} is not a possible phone number in {region} "
            f"(nor a short extension of up to {MAX_EXTENSION_DIGITS} digits)",
            raw,
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
