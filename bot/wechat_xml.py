"""Safe handling of the XML that WeChat posts to the webhook.

Every byte of inbound XML passes through defusedxml before anything else reads it: a document type
declaration (the carrier of entity bombs and XXE) is refused outright, and so are entities and
external references. Only then is the text handed to wechatpy's `parse_message` (which uses
xmltodict/expat and has no such protection of its own).
"""

from __future__ import annotations

import logging
from typing import Any

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException
from wechatpy import parse_message
from wechatpy.messages import BaseMessage

from storage.errors import GridSecretaryError

logger = logging.getLogger(__name__)

# WeChat's own messages are well under 4 KB; 64 KB leaves room and stops memory-exhaustion bodies.
MAX_BODY_BYTES = 64 * 1024
ROOT_TAG = "xml"
MAX_OPENID_CHARS = 64  # openids are 28 characters; the residents table allows 64


class InboundXMLError(GridSecretaryError):
    """The body is not a WeChat XML message we may safely read (malformed, unsafe, wrong shape)."""


def safe_fields(body: bytes | str) -> dict[str, str]:
    """The top-level fields of a WeChat XML document, read with defusedxml.

    Args:
        body: the raw request body (or the decrypted plaintext in AES safe mode).

    Returns:
        `{tag: text}` for each child of the `<xml>` root (CDATA unwrapped, missing text as "").

    Raises:
        InboundXMLError: for malformed XML, a DTD/entity/external reference, or a root other than `<xml>`.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not raw.strip():
        raise InboundXMLError("empty body")
    try:
        root = SafeElementTree.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise InboundXMLError(f"unsafe XML refused: {type(error).__name__}") from error
    except SafeElementTree.ParseError as error:
        raise InboundXMLError(f"malformed XML: {error}") from error
    if root.tag != ROOT_TAG:
        raise InboundXMLError(f"root element must be <{ROOT_TAG}>, got <{root.tag}>")
    return {child.tag: (child.text or "") for child in root}


def parse_safely(body: bytes | str) -> BaseMessage:
    """A wechatpy message object for a body that first passed `safe_fields`.

    Raises:
        InboundXMLError: when the XML is unsafe or malformed, or lacks `MsgType`/`FromUserName`.
    """
    fields = safe_fields(body)
    missing = [name for name in ("MsgType", "FromUserName", "CreateTime") if not fields.get(name)]
    if missing:
        raise InboundXMLError(f"WeChat message lacks {', '.join(missing)}")
    not_numbers = [
        name
        for name in ("CreateTime", "MsgId")
        if name in fields
        and not (fields[name].isascii() and fields[name].isdigit() and len(fields[name]) <= 20)
    ]
    if not_numbers:
        raise InboundXMLError(f"WeChat message field {', '.join(not_numbers)} is not a number")
    if len(fields["FromUserName"]) > MAX_OPENID_CHARS:
        raise InboundXMLError("FromUserName is too long to be an openid")
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    try:
        return parse_message(text)
    except (
        KeyError,
        ValueError,
        AttributeError,
    ) as error:  # shapes defusedxml accepted but wechatpy cannot read
        raise InboundXMLError(f"unreadable WeChat message: {error}") from error


def encrypted_envelope(body: bytes) -> dict[str, Any]:
    """The outer envelope of an AES safe-mode post (`<xml><ToUserName/><Encrypt/></xml>`), read safely.

    Raises:
        InboundXMLError: when the envelope is unsafe, malformed, or has no `Encrypt` field.
    """
    fields = safe_fields(body)
    if not fields.get("Encrypt"):
        raise InboundXMLError("safe-mode message without an Encrypt field")
    return fields
