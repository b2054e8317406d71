"""Masking of personal data for display. Raw values are stored once (Person.phone, Resident.phone);
everything shown on a console, in a message to staff or in a log goes through these functions.

`mask_text` looks for personal data in free text as residents really type it: with spaces or dashes
inside a number, full-width digits and letters (a Chinese keyboard's full-width mode), lower-case plates,
a letter right before an ID number. Matching runs on a same-length copy with full-width characters folded
to ASCII, so each match masks exactly the characters the resident typed.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

# Full-width ASCII (U+FF01..U+FF5E) -> ASCII, and the ideographic space: one character for one, so spans
# found in the folded text are spans of the original.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_SEP = r"[-\s]?"  # one optional space or dash between digits, as numbers are written and read aloud
# Mainland mobile: 1[3-9] and nine more digits in any grouping, optional +86/86 before it.
_MOBILE_RE = re.compile(rf"(?<!\d)(?:\+?86{_SEP})?1[3-9](?:{_SEP}\d){{9}}(?!\d)")
# Landlines: an area code (020, 0755; in brackets or not) then 7-8 digits.
_LANDLINE_RE = re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3})[-\s]?\d{7,8}(?!\d)")
# 18-digit resident ID (last char may be X), written whole or as 6-8-4, and the old 15-digit form.
_ID_CARD_RE = re.compile(rf"(?<!\d)(?:\d{{6}}{_SEP}\d{{8}}{_SEP}\d{{3}}[\dXx]|\d{{15}})(?!\d)")
# Plates: province character + letter + 5 (ordinary) or 6 (new-energy) letters/digits, e.g. 粤A12345, 粤AD12345;
# a dot or space may follow the issuing letter (粤A·12345, 粤A 12345); letters in either case.
_PLATE_LETTER = "A-HJ-NP-Za-hj-np-z"
_PLATE_RE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领]"
    rf"[{_PLATE_LETTER}][·•.\s]?[{_PLATE_LETTER}0-9]{{4,5}}[{_PLATE_LETTER}0-9挂学警港澳]"
)


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value.translate(_FOLD))


def mask_phone(phone: str | None) -> str:
    """138****5678 for a mobile, 020-****5678 style for a landline; empty stays empty.

    Keeps the first three and last four digits of an 11-digit mobile (a +86 prefix is dropped),
    and only the last four digits of anything else.
    """
    if not phone:
        return ""
    digits = _digits(phone)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_id_card(number: str | None) -> str:
    """440104********1234: keeps the six-digit region code and the last four characters."""
    if not number:
        return ""
    value = re.sub(r"[-\s]", "", number.translate(_FOLD))
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_plate(plate: str | None) -> str:
    """粤A***45: keeps the province, the issuing letter and the last two characters."""
    if not plate:
        return ""
    value = re.sub(r"[·•.\s]", "", plate.translate(_FOLD)).upper()
    if len(value) <= 4:
        return value[:1] + "*" * (len(value) - 1)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


_MASKERS = (  # in this order: an ID number is claimed before a phone pattern could eat part of it
    (_ID_CARD_RE, mask_id_card),
    (_MOBILE_RE, mask_phone),
    (_LANDLINE_RE, mask_phone),
    (_PLATE_RE, mask_plate),
)


def mask_text(text: str | None) -> str:
    """Mask every ID-card number, phone number and licence plate found inside free text."""
    if not text:
        return ""
    folded = text.translate(_FOLD)
    spans: list[tuple[int, int, str]] = []
    for pattern, mask in _MASKERS:
        for match in pattern.finditer(folded):
            start, end = match.span()
            if not any(start < taken_end and taken_start < end for taken_start, taken_end, _ in spans):
                spans.append((start, end, mask(match.group(0))))
    pieces, cursor = [], 0
    for start, end, masked in sorted(spans):
        pieces += [text[cursor:start], masked]
        cursor = end
    return "".join(pieces) + text[cursor:]
