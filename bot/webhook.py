"""The webhook: verify -> decrypt -> parse -> dedup -> handle -> reply.

Error policy: bad or missing signature, stale timestamp, replayed nonce -> 403; plaintext
POST in safe mode, malformed envelope, DOCTYPE/ENTITY, XML nested too deep -> 400; body
over 64 KiB -> 413; a signed message we cannot parse or do not handle -> "success"; a
handler crash -> logged, the user gets a short apology. Never a 500.

The signature is checked before any XML tree is built: in safe and compat mode on the
ciphertext read off the raw body, in plaintext mode on the query alone (it covers no body).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from xml.parsers.expat import ExpatError

from flask import Blueprint, Response, abort, request
from wechatpy import parse_message
from wechatpy.replies import TextReply

from bot import handlers, inbox
from bot import texts as T
from bot.inbound import Inbound, from_wechatpy
from bot.spool import Spooled
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
    args = request.args
    if (request.content_length or 0) > MAX_BODY:
        raise Rejected(413, f"Content-Length {request.content_length} is over {MAX_BODY}")
    body = request.stream.read(MAX_BODY + 1)
    timestamp = check_timestamp(args.get("timestamp"), time.time())
    nonce = args.get("nonce", "")
    if not nonce or len(nonce) > 64:
        raise Rejected(403, "missing or overlong nonce")
    check_body(body)
    xml, raw, envelope = _open(rt, body, args, nonce)
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
    try:
        reply = apply(rt, msg, xml, timestamp, nonce, now)
    except inbox.Replay as exc:
        raise Rejected(403, str(exc)) from None
    except inbox.DatabaseDown as exc:
        return _render(msg, _wait_for_database(rt, msg, xml, timestamp, nonce, now, exc), envelope, nonce)
    response = _render(msg, reply, envelope, nonce)
    if rt.spool.maybe_waiting():  # the database answered: apply what waited, after this answer went out
        response.call_on_close(lambda: drain(rt))
    return response


def _open(rt, body: bytes, args, nonce: str) -> tuple[str, bytes, object]:
    """The message's XML (decrypted in safe and compat mode), its bytes, and the envelope to
    seal the reply in (None in plaintext). The signature is checked before anything is parsed."""
    w, ts = rt.config.wechat, args["timestamp"]
    encrypted = encrypted_field(body)
    if encrypted:
        if w.encrypt_mode == "plain":
            raise Rejected(400, "encrypted message, but wechat.encrypt_mode is plain")
        xml = rt.envelope.open(encrypted, args.get("msg_signature"), ts, nonce)
        raw = xml.encode("utf-8")
        check_body(raw)
        return xml, raw, rt.envelope
    if w.encrypt_mode == "safe":
        raise Rejected(400, "plaintext message refused: wechat.encrypt_mode is safe")
    check_signature((w.token, ts, nonce), args.get("signature"), "signature")
    try:
        return body.decode("utf-8"), body, None
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None


def apply(rt, msg: Inbound, xml: str, timestamp: int, nonce: str, now: dt.datetime) -> str | None:
    """The message through the exactly-once inbox and its handler, as of `now`."""
    d = rt.config.dashboard
    ctx = handlers.Context(rt.plan_on(now.date()), rt.bind_policy, now, d.public_url, d.login_link_minutes)
    return inbox.process(msg, xml, timestamp, nonce, now, lambda m: handlers.handle(m, ctx))


def _wait_for_database(rt, msg: Inbound, xml: str, timestamp: int, nonce: str, now: dt.datetime, exc) -> str:
    """The database cannot be reached: keep the message on local disk, to be applied when it
    is back, and say so. If even that fails, a 503 makes WeChat deliver it again."""
    try:
        rt.spool.put(Spooled(msg.dedup_key, xml, timestamp, nonce, now.isoformat()))
    except OSError:
        log.exception("database down (%s) and the spool cannot be written: %s lost unless redelivered", exc,
                      msg.dedup_key)
        abort(Response("database unavailable and no local spool", status=503, content_type="text/plain"))
    log.warning("database down (%s): %s kept in the spool", exc, msg.dedup_key)
    return T.QUEUED


def drain(rt) -> int:
    """Apply the messages that waited for the database (after a response has gone out, or
    from the `spool` job). Each through the inbox, as of when it arrived: exactly once."""
    def one(item: Spooled) -> None:
        msg = from_wechatpy(parse_message(item.xml))
        try:
            with inbox.connection():
                apply(rt, msg, item.xml, item.timestamp, item.nonce, dt.datetime.fromisoformat(item.received_at))
        except inbox.Replay as exc:  # its nonce was taken by another message meanwhile: not ours
            log.warning("spool: %s dropped: %s", item.key, exc)

    return rt.spool.drain(one)


def _render(msg: Inbound, reply: str | None, envelope, nonce: str) -> Response:
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
