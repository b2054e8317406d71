"""Photos sent to the WeChat account: fetched through the media API, stored, read (OCR + EXIF GPS).

Runs inside the background turn, never in the webhook's 5-second window. The file is stored under
`var/media/` by content hash; the database reference is made when a case opens with it: the `photo`
metadata below is shaped as a `storage.cases.open_case(media=[...])` item (`kind`, `uri`,
`content_type`, `meta`). A photo that cannot be fetched still makes its turn, marked `photo_error`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.config import REPO_ROOT

logger = logging.getLogger(__name__)

PhotoReader = Callable[[bytes], Any]
DEFAULT_MEDIA_ROOT = REPO_ROOT / "var" / "media"
MAX_MEDIA_BYTES = 10 * 1024 * 1024  # WeChat's own limit for an image message
MEDIA_CHUNK_BYTES = 64 * 1024
EXPIRED_TOKEN_CODES = {40001, 40014, 42001}  # invalid, malformed, expired access token
_IMAGE_TYPES = {
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"\x89PNG": ("image/png", ".png"),
    b"GIF8": ("image/gif", ".gif"),
}


@dataclass(frozen=True)
class StoredMedia:
    """A media file saved under the media root, named by its SHA-256 (saving twice is a no-op)."""

    uri: str
    sha256: str
    content_type: str
    size: int


def sniff_image(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) for JPEG/PNG/GIF bytes, else None."""
    for magic, kind in _IMAGE_TYPES.items():
        if data.startswith(magic):
            return kind
    return None


def store_media(media_root: Path, data: bytes) -> StoredMedia:
    """Write image bytes to `<media_root>/<aa>/<sha256><ext>` atomically and return the reference.

    Raises:
        ValueError: when the bytes are empty, too large, or not an image we accept.
    """
    if not data or len(data) > MAX_MEDIA_BYTES:
        raise ValueError(f"media size {len(data)} outside 1..{MAX_MEDIA_BYTES} bytes")
    kind = sniff_image(data)
    if kind is None:
        raise ValueError("media is not a JPEG, PNG or GIF image")
    content_type, extension = kind
    digest = hashlib.sha256(data).hexdigest()
    path = media_root / digest[:2] / f"{digest}{extension}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f"{extension}.{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(path)
    return StoredMedia(uri=str(path), sha256=digest, content_type=content_type, size=len(data))


class MediaFetchError(RuntimeError):
    """The media API did not give us image bytes for a media id."""


def download_media(client: WeChatClient, media_id: str, max_bytes: int = MAX_MEDIA_BYTES) -> bytes:
    """The bytes of a temporary media file (`/cgi-bin/media/get`), streamed and capped at `max_bytes`.

    wechatpy's `media.download` reads the whole answer into memory before anyone can look at its size; here
    the download stops as soon as it passes the cap (WeChat's own 10 MB image limit). A JSON answer is
    WeChat's error; an expired access token is refreshed once, as wechatpy would.
    """
    for attempt in (1, 2):
        try:
            data, content_type = _stream_media(client, media_id, max_bytes)
        except (WeChatClientException, requests.RequestException) as error:
            raise MediaFetchError(f"media {media_id} not fetched: {error}") from error
        if "json" not in content_type.lower() and not data.startswith(b"{"):
            return data
        try:
            errcode = int(json.loads(data.decode("utf-8", "replace")).get("errcode", -1))
        except (ValueError, AttributeError):
            errcode = -1
        if errcode in EXPIRED_TOKEN_CODES and attempt == 1:
            client.fetch_access_token()
            continue
        raise MediaFetchError(f"media {media_id}: the API answered error {errcode} without a file")
    raise MediaFetchError(f"media {media_id}: access token refused twice")


def _stream_media(client: WeChatClient, media_id: str, max_bytes: int) -> tuple[bytes, str]:
    params = {"access_token": client.access_token, "media_id": media_id}
    url = f"{client.API_BASE_URL}media/get"
    with client._http.get(url, params=params, stream=True, timeout=client.timeout) as response:
        response.raise_for_status()
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > max_bytes:
            raise MediaFetchError(f"media {media_id}: {declared} bytes declared, over {max_bytes}")
        chunks, size = [], 0
        for chunk in response.iter_content(MEDIA_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise MediaFetchError(f"media {media_id}: over {max_bytes} bytes, download stopped")
            chunks.append(chunk)
        return b"".join(chunks), str(response.headers.get("Content-Type") or "")


def default_photo_reader() -> PhotoReader | None:
    """`bot.nlu.photo.read_photo` (OCR text + EXIF GPS) when the NLU package provides it, else None."""
    try:
        from bot.nlu.photo import read_photo
    except ImportError:
        logger.warning("bot.nlu.photo.read_photo is not available: photos go to Rasa without OCR/EXIF")
        return None
    return read_photo


def _field(result: Any, *names: str) -> Any:
    for name in names:
        value = result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)
        if value is not None:
            return value
    return None


def photo_facts(result: Any) -> dict[str, Any]:
    """OCR text, GPS point and capture time from `read_photo`'s `PhotoReading` (or a mapping), JSON-ready."""
    if result is None:
        return {}
    facts: dict[str, Any] = {}
    text = _field(result, "text", "ocr_text")
    if isinstance(text, str) and text.strip():
        facts["ocr_text"] = text.strip()
    point = _field(result, "point", "gps", "location")
    lat = _field(point, "lat", "latitude") if point is not None else None
    lng = _field(point, "lng", "lon", "longitude") if point is not None else None
    if point is not None and lat is None and isinstance(point, (tuple, list)) and len(point) == 2:
        lat, lng = point
    if lat is not None and lng is not None:
        facts["point"] = {"lat": float(lat), "lng": float(lng)}  # EXIF GPS is WGS-84
    taken_at = _field(result, "taken_at")
    if isinstance(taken_at, datetime):
        facts["taken_at"] = taken_at.isoformat()
    return facts


def photo_metadata(stored: StoredMedia, media_id: str, facts: Mapping[str, Any]) -> dict[str, Any]:
    """The `photo` metadata item, shaped for `open_case(media=[...])`."""
    return {
        "kind": "photo",
        "uri": stored.uri,
        "content_type": stored.content_type,
        "meta": {"wechat_media_id": media_id, "sha256": stored.sha256, "size": stored.size, **facts},
    }


async def fetch_photo(
    client: WeChatClient,
    media_id: str,
    text: str,
    metadata: dict[str, Any],
    media_root: Path | None,
    photo_reader: PhotoReader | None,
) -> tuple[str, dict[str, Any]]:
    """Fetch, store and read a photo; return the turn's text and metadata.

    The OCR text, when there is any, becomes the message text (so NLU classifies the problem from it,
    `text_source: "ocr"`); an EXIF point becomes `location` (WGS-84, `source: "exif"`).
    """
    try:
        data = await asyncio.to_thread(download_media, client, media_id)
        stored = store_media(media_root or DEFAULT_MEDIA_ROOT, data)
    except (MediaFetchError, ValueError) as error:
        logger.warning("photo %s not stored: %s", media_id, error)
        return text, metadata | {"photo_error": str(error)}
    reader = photo_reader or default_photo_reader()
    facts: dict[str, Any] = {}
    if reader is not None:
        try:
            facts = photo_facts(await asyncio.to_thread(reader, data))
        except Exception:  # OCR failing must not lose the photo or the turn
            logger.exception("reading photo %s failed", media_id)
    metadata = metadata | {"photo": photo_metadata(stored, media_id, facts)}
    if "point" in facts and "location" not in metadata:
        metadata["location"] = {**facts["point"], "label": None, "source": "exif"}
    if facts.get("ocr_text"):
        return facts["ocr_text"], metadata | {"text_source": "ocr"}
    return text, metadata
