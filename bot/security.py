"""Signature, timestamp and body checks for the webhook, and the AES envelope.

wechatpy signs and encrypts; we compare signatures ourselves in constant time, because
wechatpy compares with `!=`.
"""
from __future__ import annotations

import base64
import hmac
import re

from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.utils import WeChatSigner

MAX_BODY = 64 * 1024
MAX_SKEW = 300  # seconds between WeChat's timestamp and our clock
_DOCTYPE = re.compile(rb"<!\s*(doctype|entity)", re.I)


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
