"""The user side of WeChat: builds inbound XML and signs/encrypts it as the platform does.

Encryption and signatures come from wechatpy, so the server is tested against the same
library output a real deployment sees, not against our own code.
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

ACCOUNT = "gh_tuanjie_demo"


def _sign(*parts) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def _xml(fields: dict) -> str:
    inner = []
    for key, value in fields.items():
        if isinstance(value, int):
            inner.append(f"<{key}>{value}</{key}>")
        else:
            # A "]]>" inside the text is split across two CDATA sections, as XML requires.
            cdata = str(value).replace("]]>", "]]]]><![CDATA[>")
            inner.append(f"<{key}><![CDATA[{cdata}]]></{key}>")
    return "<xml>" + "".join(inner) + "</xml>"


def _from_user(xml: str) -> str:
    found = re.search(r"<FromUserName>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</FromUserName>", xml)
    return found.group(1) if found else ""


def _message(openid: str, msg_type: str, msg_id: int | None, create_time: int | None = None, **fields) -> str:
    """A user's message (not an event): the envelope fields, the type's own, and its MsgId."""
    return _xml({"ToUserName": ACCOUNT, "FromUserName": openid, "CreateTime": create_time or int(time.time()),
                 "MsgType": msg_type, **fields, "MsgId": msg_id or secrets.randbits(62)})


def text(openid: str, content: str, msg_id: int | None = None, create_time: int | None = None) -> str:
    return _message(openid, "text", msg_id, create_time, Content=content)


def image(openid: str, media_id: str, msg_id: int | None = None, pic_url: str = "http://127.0.0.1/pic.jpg") -> str:
    return _message(openid, "image", msg_id, PicUrl=pic_url, MediaId=media_id)


def voice(openid: str, media_id: str, recognition: str | None = None, msg_id: int | None = None) -> str:
    """A voice message; Recognition is there when the account has voice recognition on."""
    extra = {} if recognition is None else {"Recognition": recognition}
    return _message(openid, "voice", msg_id, MediaId=media_id, Format="amr", **extra)


def video(openid: str, media_id: str, msg_type: str = "video", msg_id: int | None = None) -> str:
    return _message(openid, msg_type, msg_id, MediaId=media_id, ThumbMediaId=f"{media_id}-thumb")


def event(openid: str, name: str, key: str | None = None, create_time: int | None = None) -> str:
    fields = {"ToUserName": ACCOUNT, "FromUserName": openid, "CreateTime": create_time or int(time.time()),
              "MsgType": "event", "Event": name}
    if key is not None:
        fields["EventKey"] = key
    return _xml(fields)


@dataclass
class Signed:
    """A request ready to POST: query string and body."""

    query: dict
    body: bytes

    @property
    def query_string(self) -> str:
        return urlencode(self.query)


class Signer:
    """Signs and encrypts like WeChat for one account's Token/EncodingAESKey/AppID."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str, mode: str = "safe"):
        self.token, self.mode = token, mode
        self.crypto = WeChatCrypto(token, encoding_aes_key, app_id)

    def sign_request(self, xml: str, timestamp: int | None = None, nonce: str | None = None) -> Signed:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or secrets.token_hex(8)
        query = {"timestamp": ts, "nonce": nonce, "signature": _sign(self.token, ts, nonce)}
        if self.mode == "plain":
            return Signed(query, xml.encode("utf-8"))
        sealed = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, ts))["xml"]
        encrypt = sealed["Encrypt"]
        query.update(encrypt_type="aes", msg_signature=sealed["MsgSignature"],
                     openid=_from_user(xml))
        if self.mode == "compat":
            # Compat mode carries both the plaintext fields and the ciphertext.
            plain = xml[len("<xml>"):-len("</xml>")]
            body = f"<xml>{plain}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        else:
            body = (f"<xml><ToUserName><![CDATA[{escape(ACCOUNT)}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        return Signed(query, body.encode("utf-8"))

    def open_reply(self, body: str, query: dict) -> str:
        """The reply's XML, decrypted when it came sealed (checks its signature too)."""
        if "<Encrypt>" not in body:
            return body
        sealed = xmltodict.parse(body)["xml"]
        return self.crypto.decrypt_message(body, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"])

    def reply_text(self, body: str, query: dict) -> str | None:
        """The text content of a passive reply, or None for "success"/empty."""
        if body in ("", "success"):
            return None
        xml = self.open_reply(body, query)
        return xmltodict.parse(xml)["xml"].get("Content")


def template_finished(openid: str, msgid: int, status: str = "success", create_time: int | None = None) -> str:
    """TEMPLATESENDJOBFINISH: note the field is MsgID (capital D), not MsgId."""
    return _xml({"ToUserName": ACCOUNT, "FromUserName": openid, "CreateTime": create_time or int(time.time()),
                 "MsgType": "event", "Event": "TEMPLATESENDJOBFINISH", "MsgID": msgid, "Status": status})
