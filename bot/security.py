"""Signature, timestamp and body checks for the webhook, and the AES envelope.

wechatpy signs and encrypts; we compare signatures ourselves in constant time, because
wechatpy compares with `!=`.
"""
from __future__ import annotations

import base64
import hmac
import re
from xml.parsers import expat

from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.utils import WeChatSigner

MAX_BODY = 64 * 1024
MAX_SKEW = 300  # seconds between WeChat's timestamp and our clock
# WeChat's messages nest four elements deep at most (xml > SendPicsInfo > PicList > item);
# a thousand levels make wechatpy and our own code recurse past Python's limit.
MAX_DEPTH = 16
_DOCTYPE = re.compile(rb"<!\s*(doctype|entity)", re.I)
# The ciphertext of safe and compat mode, read off the raw body: no XML tree is built before
# its signature is checked. Base64 only, in a CDATA section or not.
_ENCRYPT = re.compile(rb"<Encrypt>\s*(?:<!\[CDATA\[([A-Za-z0-9+/=]*)\]\]>|([A-Za-z0-9+/=]*))\s*</Encrypt>")
# Characters XML 1.0 does not allow, even escaped: a reply holding one is a reply WeChat cannot read.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Rejected(Exception):
    """A request to refuse: carries the HTTP status and a reason for the log."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def check_signature(expected_parts: tuple[str, ...], given: str | None, name: str) -> None:
    if not given:
        raise Rejected(403, f"missing {name}")
    if not hmac.compare_digest(sign(*expected_parts).encode(), given.encode()):
        raise Rejected(403, f"bad {name}")


def check_timestamp(timestamp: str | None, now: float) -> int:
    if not timestamp or not re.fullmatch(r"[0-9]{1,12}", timestamp):  # isdigit() admits "²"
        raise Rejected(403, "missing or malformed timestamp")
    value = int(timestamp)
    if abs(now - value) > MAX_SKEW:
        raise Rejected(403, f"timestamp {value} is {int(now - value)} s away from now")
    return value


def check_body(body: bytes) -> None:
    if len(body) > MAX_BODY:
        raise Rejected(413, f"body of {len(body)} bytes is over {MAX_BODY}")
    if _DOCTYPE.search(body):
        raise Rejected(400, "DOCTYPE/ENTITY declarations are not accepted")


def encrypted_field(body: bytes) -> str | None:
    """The <Encrypt> value of a safe- or compat-mode body, None when there is none; a body
    whose Encrypt is not one plain base64 text is refused."""
    if b"<Encrypt" not in body:
        return None
    found = _ENCRYPT.findall(body)
    if len(found) != 1 or body.count(b"<Encrypt") != 1:
        raise Rejected(400, "Encrypt must be one element holding base64 text")
    cdata, bare = found[0]
    return (cdata or bare).decode("ascii")


def check_depth(xml: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse XML nested deeper than `limit`. Each level of well-formed XML costs an opening
    and a closing "<", so a message with few of them is let through unscanned; one with many is
    scanned by expat, which builds nothing and does not recurse."""
    if xml.count(b"<") <= 2 * limit:
        return
    depth = 0

    def start(name, attrs):
        nonlocal depth
        depth += 1
        if depth > limit:
            raise Rejected(400, f"XML nested deeper than {limit} elements")

    def end(name):
        nonlocal depth
        depth -= 1

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise Rejected(400, f"not well-formed XML: {exc}") from None


def xml_text(text: str) -> str:
    """Text made safe for a reply's XML: characters XML forbids are dropped."""
    return _NOT_XML.sub("", text)


class Envelope:
    """AES-CBC envelope of safe and compat mode, keyed by the EncodingAESKey."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str):
        self.token, self.app_id = token, app_id
        self.key = base64.b64decode(encoding_aes_key + "=")
        self._crypto = WeChatCrypto(token, encoding_aes_key, app_id)
        self._prp = PrpCrypto(self.key)

    def open(self, encrypted: str, msg_signature: str | None, timestamp: str, nonce: str) -> str:
        check_signature((self.token, timestamp, nonce, encrypted), msg_signature, "msg_signature")
        try:
            return self._prp.decrypt(encrypted, self.app_id)
        except InvalidAppIdException:
            raise Rejected(403, "ciphertext is for another AppID") from None
        except Exception as exc:  # bad base64, padding, length: all mean "not our ciphertext"
            raise Rejected(400, f"cannot decrypt: {type(exc).__name__}") from None

    def seal(self, xml: str, nonce: str, timestamp: str) -> str:
        return self._crypto.encrypt_message(xml, nonce, timestamp)
