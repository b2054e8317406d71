"""The first steps of the WeChat webhook: verify the signature and its age, read the body, decrypt.

Signatures and AES are wechatpy's (`check_signature`, `WeChatCrypto`): nothing here is home-made crypto.
Each step raises `ChannelAuthError` (answer 403) or `InboundXMLError` (400; `PayloadTooLarge` 413).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot.wechat_xml import MAX_BODY_BYTES, InboundXMLError, encrypted_envelope
from storage.errors import ChannelAuthError

logger = logging.getLogger(__name__)

MAX_SIGNATURE_AGE_S = 300  # WeChat signs each push as it sends it; older signatures are replays
QUERY_FIELDS = ("signature", "timestamp", "nonce", "msg_signature")


class PayloadTooLarge(InboundXMLError):
    """The body is over `MAX_BODY_BYTES`."""


def verified_query(token: str, args: Mapping[str, str], now: datetime) -> dict[str, str]:
    """The signature fields of a request, once the signature is right and at most 5 minutes old.

    Raises:
        ChannelAuthError: for a missing or wrong signature, a non-numeric timestamp or a stale one.
    """
    query = {name: str(args.get(name) or "") for name in QUERY_FIELDS}
    try:
        check_signature(token, query["signature"], query["timestamp"], query["nonce"])
        age = abs(now.timestamp() - int(query["timestamp"]))
    except (InvalidSignatureException, ValueError, OverflowError) as error:  # 10**400 overflows a float
        raise ChannelAuthError("bad WeChat signature") from error
    if age > MAX_SIGNATURE_AGE_S:
        raise ChannelAuthError(f"stale WeChat signature ({age:.0f} s from now)")
    return query


async def read_body(request: Request) -> bytes:
    """The body of a streamed request, refused as soon as it passes MAX_BODY_BYTES (never read whole)."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"declared body of {declared} bytes is over {MAX_BODY_BYTES}")
    if request.stream is None:  # not a streaming route: Sanic has read the body already
        chunks = [request.body or b""]
    else:
        chunks, size = [], 0
        async for chunk in request.stream:
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"body over {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
    body = b"".join(chunks)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body of {len(body)} bytes is over {MAX_BODY_BYTES}")
    return body


def decrypted(crypto: WeChatCrypto | None, body: bytes, query: Mapping[str, str]) -> bytes:
    """The message XML: the body itself in plaintext mode, wechatpy's AES decryption in safe mode.

    The safe-mode envelope is read with defusedxml first and handed to wechatpy as a dict.
    """
    if crypto is None:
        return body
    envelope = encrypted_envelope(body)
    try:
        plain = crypto.decrypt_message(envelope, query["msg_signature"], query["timestamp"], query["nonce"])
    except (InvalidSignatureException, InvalidAppIdException) as error:
        raise ChannelAuthError("bad WeChat message signature or app id") from error
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise InboundXMLError(f"undecryptable message: {type(error).__name__}") from error
    return plain.encode("utf-8") if isinstance(plain, str) else plain


def refusal(status: int, error: ChannelAuthError | InboundXMLError) -> HTTPResponse:
    """The short answer to a refused request (the reason goes to the log, not to the caller)."""
    logger.warning("WeChat request refused (%s): %s", status, error.detail)
    return response.text(
        {400: "bad request", 403: "forbidden", 413: "payload too large"}[status], status=status
    )
