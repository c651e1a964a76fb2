"""The user side: a phone-style chat page and the JSON it calls.

Each action becomes what WeChat would send to the webhook (text, image, CLICK, subscribe,
unsubscribe, SCAN), delivered with WeChat's timeout and retries; replies and pushed
messages (customer-service bubbles, template cards) appear in the conversation.
"""
from __future__ import annotations

import itertools
import threading

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from emulator import inbound
from emulator.platform import ApiError

bp = Blueprint("emu_chat", __name__, template_folder="templates")


class Conversations:
    """Every user's conversation: what they sent, what the bot answered or pushed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.ids = itertools.count(1)
            self.by_user: dict[str, list[dict]] = {}

    def push(self, openid: str, who: str, kind: str, content) -> dict:
        with self.lock:
            entry = {"id": next(self.ids), "who": who, "kind": kind, "content": content}
            self.by_user.setdefault(openid, []).append(entry)
            return entry

    def after(self, openid: str, after: int) -> list[dict]:
        with self.lock:
            return [m for m in self.by_user.get(openid, []) if m["id"] > after]


def emu():
    return current_app.extensions["emulator"]


def _deliver(openid: str, xml: str) -> dict:
    outcome = emu().delivery.deliver(xml)
    if outcome.status == "reply":
        emu().chat.push(openid, "bot", "text", outcome.text)
    elif outcome.status == "failed":
        emu().chat.push(openid, "system", "error", outcome.text)
    return {"status": outcome.status, "reply": outcome.text, "attempts": outcome.attempts, "detail": outcome.detail}


def _required(name: str, error: str) -> str:
    """A non-blank field of the JSON (or form) body, stripped; ValueError (400) otherwise."""
    body = request.get_json(silent=True) or request.form
    value = (body.get(name) or "").strip()
    if not value:
        raise ValueError(error)
    return value


def _openid() -> str:
    return _required("openid", "openid is required")


@bp.errorhandler(ValueError)
def bad_request(exc):
    return jsonify(error=str(exc)), 400


@bp.get("/")
def page():
    return render_template("chat.html", account=emu().settings.account_name)


@bp.get("/chat/api/state")
def state():
    e = emu()
    users = [{"openid": u.openid, "name": u.name, "label": u.label} for u in e.settings.users]
    return jsonify(users=users, menu=e.platform.menu, account=e.settings.account_name)


@bp.get("/chat/api/messages")
def messages():
    openid = request.args.get("openid", "")
    after = int(request.args.get("after", "0") or 0)
    following = emu().platform.users.get(openid)
    return jsonify(messages=emu().chat.after(openid, after),
                   following=bool(following.following) if following else True)


@bp.post("/chat/api/send")
def send_text():
    openid = _openid()
    text = _required("text", "text is empty")
    e = emu()
    e.platform.user(openid)
    e.platform.open_window(openid, "message")
    e.chat.push(openid, "user", "text", text)
    return jsonify(_deliver(openid, inbound.text(openid, text)))


@bp.post("/chat/api/image")
def send_image():
    openid = _openid()
    upload = request.files.get("image")
    if upload is None:
        raise ValueError("image file is required")
    e = emu()
    e.platform.open_window(openid, "message")
    media = e.platform.add_media("image", upload.read(), upload.filename or "photo.jpg", upload.mimetype)
    media_id = media["media_id"]
    e.chat.push(openid, "user", "image", f"/chat/media/{media_id}")
    pic_url = f"{request.host_url.rstrip('/')}/chat/media/{media_id}"
    return jsonify(_deliver(openid, inbound.image(openid, media_id, pic_url=pic_url)))


@bp.post("/chat/api/voice")
def send_voice():
    """A voice message: an uploaded recording (AMR, as WeChat keeps voice), or a short silent
    one, with the text voice recognition would give (empty: recognition had nothing)."""
    openid = _openid()
    body = request.get_json(silent=True) or request.form
    recognition = (body.get("recognition") or "").strip()
    upload = request.files.get("voice")
    content = upload.read() if upload is not None else SILENT_AMR
    e = emu()
    e.platform.open_window(openid, "message")
    media = e.platform.add_media("voice", content, "voice.amr", "audio/amr")
    e.chat.push(openid, "user", "voice", recognition or "（语音）")
    return jsonify(_deliver(openid, inbound.voice(openid, media["media_id"], recognition=recognition or None)))


# One second of silence in AMR-NB (the header, then 50 frames of the 'no data' kind).
SILENT_AMR = b"#!AMR\n" + b"\x7c" * 50


@bp.get("/chat/media/<media_id>")
def media(media_id):
    try:
        m = emu().platform.get_media(media_id)
    except ApiError:
        return Response("expired", status=404)
    return Response(m["content"], content_type=m["mimetype"] or "image/jpeg")


@bp.post("/chat/api/click")
def click():
    openid = _openid()
    key = _required("key", "key is required")
    emu().platform.open_window(openid, "event")
    return jsonify(_deliver(openid, inbound.event(openid, "CLICK", key)))


@bp.post("/chat/api/follow")
def follow():
    openid = _openid()
    want = bool((request.get_json(silent=True) or {}).get("follow", True))
    e = emu()
    e.platform.follow(openid, want)
    if want:
        e.platform.open_window(openid, "event")
        e.chat.push(openid, "system", "note", "已关注")
        return jsonify(_deliver(openid, inbound.event(openid, "subscribe")))
    e.chat.push(openid, "system", "note", "已取消关注")
    return jsonify(_deliver(openid, inbound.event(openid, "unsubscribe")))


@bp.post("/chat/api/scan")
def scan():
    """Scan a parametric QR code: by what it holds (the url qrcode/create returned), by ticket,
    or directly by scene (a binding code)."""
    openid = _openid()
    body = request.get_json(silent=True) or {}
    e = emu()
    if body.get("ticket") or body.get("url"):
        try:
            scene = e.platform.scene_of(body.get("ticket") or "", body.get("url") or "")
        except ApiError as exc:
            raise ValueError(str(exc)) from None
    else:
        scene = (body.get("scene") or "").strip()
    if not scene:
        raise ValueError("ticket or scene is required")
    user = e.platform.user(openid)
    e.platform.open_window(openid, "event")
    e.chat.push(openid, "system", "note", "扫描了二维码")
    if user.following:
        return jsonify(_deliver(openid, inbound.event(openid, "SCAN", scene)))
    e.platform.follow(openid, True)
    return jsonify(_deliver(openid, inbound.event(openid, "subscribe", f"qrscene_{scene}")))

