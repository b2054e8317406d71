"""Masking of personal data for display. Raw values are stored once (Person.phone, Resident.phone);
everything shown on a console, in a message to staff or in a log goes through these functions.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

# Mainland mobile (1[3-9]x xxxx xxxx, optional +86/86 and separators) and landlines (020-8xxxxxxx).
_MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?!\d)")
_LANDLINE_RE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
# 18-digit resident ID (last char may be X) and the old 15-digit form.
_ID_CARD_RE = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
# Plates: province character + letter + 5 (ordinary) or 6 (new-energy) letters/digits, e.g. 粤A12345, 粤AD12345.
_PLATE_RE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领][A-HJ-NP-Z]·?[A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9挂学警港澳]"
)


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


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
    value = number.strip()
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_plate(plate: str | None) -> str:
    """粤A***45: keeps the province, the issuing letter and the last two characters."""
    if not plate:
        return ""
    value = plate.replace("·", "").strip()
    if len(value) <= 4:
        return value[:1] + "*" * (len(value) - 1)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def mask_text(text: str | None) -> str:
    """Mask every ID-card number, phone number and licence plate found inside free text.

    ID numbers are masked first so a phone pattern never eats part of one.
    """
    if not text:
        return ""
    masked = _ID_CARD_RE.sub(lambda m: mask_id_card(m.group(0)), text)
    masked = _MOBILE_RE.sub(lambda m: mask_phone(m.group(0)), masked)
    masked = _LANDLINE_RE.sub(lambda m: mask_phone(m.group(0)), masked)
    return _PLATE_RE.sub(lambda m: mask_plate(m.group(0)), masked)
