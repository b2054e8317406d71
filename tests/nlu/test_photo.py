"""bot.nlu.photo on photos the tests draw themselves: Chinese text for OCR, EXIF GPS and time written with Pillow."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from PIL.TiffImagePlugin import IFDRational

from bot.nlu.photo import (
    MAX_PHOTO_BYTES,
    NotAnImage,
    PhotoTooLarge,
    dms_to_degrees,
    read_photo,
)

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
# file names of CJK fonts known to carry simplified Chinese glyphs (Debian fonts-wqy-zenhei / fonts-noto-cjk …)
CJK_FONT_NAMES = ("wqy-zenhei.ttc", "wqy-microhei.ttc", "NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc")


def find_cjk_font() -> Path:
    """The first installed CJK font, or a failure that says how to install one."""
    for directory in FONT_DIRS:
        for name in CJK_FONT_NAMES:
            found = sorted(directory.rglob(name)) if directory.is_dir() else []
            if found:
                return found[0]
    pytest.fail(
        "no CJK font under /usr/share/fonts: run `apt-get update && apt-get install -y fonts-wqy-zenhei` "
        "(gives /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc)"
    )


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction((value - degrees - minutes / 60) * 3600).limit_denominator(1_000_000)
    return (
        IFDRational(degrees, 1),
        IFDRational(minutes, 1),
        IFDRational(seconds.numerator, seconds.denominator),
    )


def draw_photo(
    lines: list[str],
    *,
    lat: float | None = None,
    lng: float | None = None,
    taken: str | None = None,
    offset: str | None = None,
    fmt: str = "JPEG",
) -> bytes:
    """A street-sign-like photo with `lines` drawn in black on white, and the given EXIF."""
    font = ImageFont.truetype(str(find_cjk_font()), 48)
    image = Image.new("RGB", (640, 120 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(lines):
        draw.text((40, 50 + 90 * row), text, font=font, fill="black")
    exif = Image.Exif()
    if lat is not None and lng is not None:
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(lat)
        gps[3], gps[4] = ("E" if lng >= 0 else "W"), _dms(lng)
    if taken is not None:
        sub = exif.get_ifd(0x8769)
        sub[0x9003] = taken
        if offset is not None:
            sub[0x9011] = offset
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


@pytest.mark.slow
def test_reads_drawn_chinese_text_gps_and_time() -> None:
    photo = draw_photo(
        ["禁止乱扔垃圾", "井盖破损"], lat=23.129163, lng=113.264435, taken="2026:11:28 09:15:30"
    )

    reading = read_photo(photo)

    assert "禁止乱扔垃圾" in reading.text.replace(" ", "")
    assert "井盖破损" in reading.text.replace(" ", "")
    assert reading.text.index("禁止") < reading.text.index("井盖")  # reading order: top line first
    assert reading.point is not None
    assert reading.point.lat == pytest.approx(23.129163, abs=1e-5)
    assert reading.point.lng == pytest.approx(113.264435, abs=1e-5)
    assert reading.taken_at == datetime(2026, 11, 28, 9, 15, 30, tzinfo=timezone(timedelta(hours=8)))


def test_southern_and_western_references_give_negative_degrees() -> None:
    photo = draw_photo(["x"], lat=-33.856784, lng=-70.648271)

    reading = read_photo(photo, ocr=False)

    assert reading.point is not None
    assert reading.point.lat == pytest.approx(-33.856784, abs=1e-5)
    assert reading.point.lng == pytest.approx(-70.648271, abs=1e-5)


def test_offset_time_original_sets_the_zone() -> None:
    photo = draw_photo(["x"], taken="2026:01:02 03:04:05", offset="-05:00")

    reading = read_photo(photo, ocr=False)

    assert reading.taken_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))


def test_photo_without_exif_has_no_point_and_no_time() -> None:
    photo = draw_photo(["x"], fmt="PNG")

    reading = read_photo(photo, ocr=False)

    assert reading.point is None
    assert reading.taken_at is None
    assert (reading.width, reading.height) == (640, 210)


def test_malformed_exif_time_is_ignored_not_raised() -> None:
    photo = draw_photo(["x"], lat=23.1, lng=113.2, taken="yesterday")

    reading = read_photo(photo, ocr=False)

    assert reading.taken_at is None
    assert reading.point is not None


def test_blank_photo_reads_no_text() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), "white").save(buffer, "JPEG")

    reading = read_photo(buffer.getvalue())

    assert reading.text == ""
    assert reading.lines == ()


def test_over_ten_megabytes_is_rejected_with_the_size() -> None:
    with pytest.raises(PhotoTooLarge, match="10 MB"):
        read_photo(b"\xff\xd8" + b"\0" * MAX_PHOTO_BYTES)


@pytest.mark.parametrize("payload", [b"", b"not an image at all", b"\xff\xd8\xff\xe0 truncated jpeg"])
def test_non_images_get_a_clear_error(payload: bytes) -> None:
    with pytest.raises(NotAnImage):
        read_photo(payload)


def test_dms_conversion_and_references() -> None:
    assert dms_to_degrees((23, 7, 45.0), "N") == pytest.approx(23 + 7 / 60 + 45 / 3600)
    assert dms_to_degrees(((113, 1), (15, 1), (3000, 100)), "W") == pytest.approx(
        -(113 + 15 / 60 + 30 / 3600)
    )
    with pytest.raises(ValueError, match="reference"):
        dms_to_degrees((1, 2, 3), "Q")
    with pytest.raises(ValueError, match="degrees, minutes, seconds"):
        dms_to_degrees((1, 2), "N")
