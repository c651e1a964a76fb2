"""The webhook: verify -> decrypt -> parse -> dedup -> handle -> reply.

Error policy: bad or missing signature, stale timestamp, replayed nonce -> 403; plaintext
POST in safe mode, malformed envelope, DOCTYPE/ENTITY, XML nested too deep -> 400; body
over 64 KiB -> 413; a signed message we cannot parse or do not handle -> "success"; a
handler crash -> logged, the user gets a short apology. Never a 500.

The signature is checked before any XML tree is built: in safe and compat mode on the
ciphertext read off the raw body, in plaintext mode on the query alone (it covers no body).
"""
from __future__ import annotations

import logging
import time
from xml.parsers.expat import ExpatError

from flask import Blueprint, Response, request
from wechatpy import parse_message
from wechatpy.replies import TextReply

from bot import handlers, inbox
from bot.inbound import from_wechatpy
from bot.security import (MAX_BODY, Rejected, check_body, check_depth, check_signature, check_timestamp,
                          encrypted_field, xml_text)
from runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("wechat", __name__)
PARSE_ERRORS = (AttributeError, KeyError, ValueError, TypeError, UnicodeDecodeError, ExpatError, RecursionError)


@bp.errorhandler(Rejected)
def rejected(exc: Rejected):
    log.warning("webhook rejected %s %s: %s", request.method, request.full_path, exc.reason)
    return Response(exc.reason, status=exc.status, content_type="text/plain")


@bp.get("/wechat")
def verify():
    """URL verification in the WeChat console: echo echostr when the signature is ours."""
    w = runtime().config.wechat
    args = request.args
    check_signature((w.token, args.get("timestamp", ""), args.get("nonce", "")), args.get("signature"),
                    "signature")
    return Response(args.get("echostr", ""), content_type="text/plain")


@bp.post("/wechat")
def receive():
    rt = runtime()
    w = rt.config.wechat
    args = request.args
    if (request.content_length or 0) > MAX_BODY:
        raise Rejected(413, f"Content-Length {request.content_length} is over {MAX_BODY}")
    body = request.stream.read(MAX_BODY + 1)
    timestamp = check_timestamp(args.get("timestamp"), time.time())
    nonce = args.get("nonce", "")
    if not nonce or len(nonce) > 64:
        raise Rejected(403, "missing or overlong nonce")
    check_body(body)
    encrypted = encrypted_field(body)
    ts = args["timestamp"]
    if encrypted:
        if w.encrypt_mode == "plain":
            raise Rejected(400, "encrypted message, but wechat.encrypt_mode is plain")
        envelope = rt.envelope
        xml = envelope.open(encrypted, args.get("msg_signature"), ts, nonce)
        raw = xml.encode("utf-8")
        check_body(raw)
    else:
        if w.encrypt_mode == "safe":
            raise Rejected(400, "plaintext message refused: wechat.encrypt_mode is safe")
        check_signature((w.token, ts, nonce), args.get("signature"), "signature")
        envelope, raw = None, body
        try:
            xml = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(400, "body is not UTF-8") from None
    try:
        check_depth(raw)
        msg = from_wechatpy(parse_message(xml))
    except Rejected as exc:
        log.warning("signed message refused: %s", exc.reason)
        return _success()
    except PARSE_ERRORS as exc:
        log.warning("unparseable signed message (%s): %.200r", type(exc).__name__, xml)
        return _success()
    if not msg.openid:
        return _success()

    now = rt.clock()
    ctx = handlers.Context(rt.plan_on(now.date()), rt.bind_policy, now)
    try:
        reply = inbox.process(msg, xml, timestamp, nonce, now, lambda m: handlers.handle(m, ctx))
    except inbox.Replay as exc:
        raise Rejected(403, str(exc)) from None
    if not reply:
        return _success()
    # wechatpy puts the text in a CDATA section: "]]>" from echoed user input would end it early.
    content = xml_text(reply).replace("]]>", "]] >")
    out = TextReply(source=msg.account, target=msg.openid, content=content, time=int(time.time())).render()
    if envelope is not None:
        out = envelope.seal(out, nonce, str(int(time.time())))
    return Response(out, content_type="application/xml")


def _success() -> Response:
    return Response("success", content_type="text/plain")
