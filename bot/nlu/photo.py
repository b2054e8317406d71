"""What a resident's photo says: its text (OCR), where it was taken (EXIF GPS) and when (EXIF time).

OCR uses rapidocr-onnxruntime, whose detection/recognition models ship inside the wheel, so nothing
is downloaded. The engine is built on first use and cached for the process (loading takes ~1 s).
EXIF is read with Pillow's EXIF reader; GPS degrees/minutes/seconds rationals are converted to a
signed WGS-84 `GeoPoint` honouring the N/S and E/W references.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from routing.types import GeoPoint

logger = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Pillow's decompression-bomb guard, tightened: a phone photo is well under 50 megapixels.
MAX_PHOTO_PIXELS = 50_000_000
# EXIF times carry no zone unless OffsetTimeOriginal is set; Yuexiu cameras run on China Standard Time.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_GPS_LATITUDE_REF, _GPS_LATITUDE, _GPS_LONGITUDE_REF, _GPS_LONGITUDE = 1, 2, 3, 4
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_DATETIME = 0x0132  # IFD0 DateTime, the fallback when DateTimeOriginal is missing


class PhotoError(ValueError):
    """A photo that cannot be read; the message says why, in words a resident-facing reply can use."""


class PhotoTooLarge(PhotoError):
    """The photo exceeds `MAX_PHOTO_BYTES` (or `MAX_PHOTO_PIXELS`)."""


class NotAnImage(PhotoError):
    """The bytes are not an image Pillow can decode."""


@dataclass(frozen=True)
class PhotoReading:
    """Everything GridSec takes from one photo.

    Attributes:
        text: OCR text, lines in reading order (top to bottom, then left to right), joined by newlines.
        point: where the photo was taken (EXIF GPS), or None.
        taken_at: when it was taken (EXIF DateTimeOriginal), timezone-aware, or None.
        width: image width in pixels (after EXIF orientation).
        height: image height in pixels (after EXIF orientation).
        lines: the OCR lines with their recognition scores.
    """

    text: str
    point: GeoPoint | None
    taken_at: datetime | None
    width: int
    height: int
    lines: tuple[tuple[str, float], ...] = ()


@functools.lru_cache(maxsize=1)
def _ocr_engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def read_photo(image_bytes: bytes, *, ocr: bool = True) -> PhotoReading:
    """Read the text, GPS point and capture time of a photo.

    Args:
        image_bytes: the encoded image (JPEG, PNG, WebP …) as received from the channel.
        ocr: run OCR (the slow part, ~0.3–2 s); False reads only EXIF.

    Returns:
        The `PhotoReading`; `point`/`taken_at` are None when the photo has no (valid) EXIF for them.

    Raises:
        PhotoTooLarge: more than 10 MB, or more than `MAX_PHOTO_PIXELS` pixels.
        NotAnImage: empty input or bytes Pillow cannot decode.
    """
    image = _open_image(image_bytes)
    exif = image.getexif()
    point = gps_point(exif.get_ifd(_GPS_IFD))
    taken_at = capture_time(exif)
    upright = ImageOps.exif_transpose(image).convert("RGB")
    lines = _recognise(upright) if ocr else ()
    return PhotoReading(
        text="\n".join(text for text, _ in lines),
        point=point,
        taken_at=taken_at,
        width=upright.width,
        height=upright.height,
        lines=lines,
    )


def _open_image(image_bytes: bytes) -> Image.Image:
    if not image_bytes:
        raise NotAnImage("empty photo: no bytes received")
    if len(image_bytes) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(
            f"photo is {len(image_bytes) / 1024 / 1024:.1f} MB; the limit is {MAX_PHOTO_BYTES // 1024 // 1024} MB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(image_bytes))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PhotoTooLarge(f"photo has too many pixels: {error}") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise NotAnImage(f"not a readable image: {error}") from error
    if image.width * image.height > MAX_PHOTO_PIXELS:
        raise PhotoTooLarge(f"photo is {image.width}x{image.height}; the limit is {MAX_PHOTO_PIXELS} pixels")
    return image


def _recognise(image: Image.Image) -> tuple[tuple[str, float], ...]:
    result, _elapsed = _ocr_engine()(image)
    if not result:
        return ()
    # each item: [box (4 corner points), text, score]; order by the box's top edge, then its left edge
    ordered = sorted(result, key=lambda item: (min(p[1] for p in item[0]), min(p[0] for p in item[0])))
    return tuple((str(text).strip(), float(score)) for _box, text, score in ordered if str(text).strip())


def dms_to_degrees(dms: Sequence[Any], ref: str) -> float:
    """Convert EXIF (degrees, minutes, seconds) rationals and a reference letter to signed degrees.

    Args:
        dms: three numbers (Pillow `IFDRational`s, floats or (numerator, denominator) pairs).
        ref: "N", "S", "E" or "W"; S and W make the result negative.

    Raises:
        ValueError: not three finite parts, or an unknown reference.
    """
    if len(dms) != 3:
        raise ValueError(f"GPS coordinate needs degrees, minutes, seconds; got {dms!r}")
    degrees, minutes, seconds = (_rational(part) for part in dms)
    value = degrees + minutes / 60.0 + seconds / 3600.0
    ref = ref.strip().upper()
    if ref not in {"N", "S", "E", "W"}:
        raise ValueError(f"unknown GPS reference {ref!r}")
    return -value if ref in {"S", "W"} else value


def _rational(part: Any) -> float:
    if isinstance(part, tuple):  # older writers hand back (numerator, denominator)
        numerator, denominator = part
        value = float(numerator) / float(denominator)
    else:
        value = float(part)
    if value != value or value in (float("inf"), float("-inf")):  # NaN from a 0/0 rational
        raise ValueError(f"GPS part {part!r} is not a finite number")
    return value


def gps_point(gps: Any) -> GeoPoint | None:
    """The WGS-84 point in an EXIF GPSInfo IFD, or None when it is missing or invalid."""
    if not gps or _GPS_LATITUDE not in gps or _GPS_LONGITUDE not in gps:
        return None
    try:
        lat = dms_to_degrees(gps[_GPS_LATITUDE], _text(gps.get(_GPS_LATITUDE_REF, "N")))
        lng = dms_to_degrees(gps[_GPS_LONGITUDE], _text(gps.get(_GPS_LONGITUDE_REF, "E")))
    except (ValueError, TypeError, ZeroDivisionError) as error:
        logger.warning("ignoring unreadable EXIF GPS: %s", error)
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        logger.warning("ignoring out-of-range EXIF GPS: lat=%s lng=%s", lat, lng)
        return None
    return GeoPoint(lat=lat, lng=lng)


def capture_time(exif: Image.Exif) -> datetime | None:
    """EXIF DateTimeOriginal (else IFD0 DateTime) as an aware datetime, or None when absent or malformed."""
    sub = exif.get_ifd(_EXIF_IFD)
    raw = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not raw:
        return None
    zone = _zone(sub.get(_OFFSET_TIME_ORIGINAL))
    try:
        return datetime.strptime(_text(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S").replace(tzinfo=zone)
    except ValueError:
        logger.warning("ignoring malformed EXIF time %r", raw)
        return None


def _zone(offset: Any) -> timezone:
    """`+08:00`-style EXIF OffsetTimeOriginal, defaulting to China Standard Time."""
    text = _text(offset).strip("\x00 ") if offset else ""
    if len(text) == 6 and text[0] in "+-" and text[3] == ":":
        try:
            minutes = int(text[1:3]) * 60 + int(text[4:6])
        except ValueError:
            return CHINA_STANDARD_TIME
        return timezone(timedelta(minutes=minutes if text[0] == "+" else -minutes))
    return CHINA_STANDARD_TIME


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return str(value)
