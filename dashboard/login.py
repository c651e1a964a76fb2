"""Getting in: the bot's one-time link, a desktop QR code confirmed by scanning it in WeChat, or
an admin's password (limited per account and per address)."""
from __future__ import annotations

import logging

import segno
from flask import abort, jsonify, redirect, render_template, request, session, url_for

from bot.errors import WeChatError
from campaign import sessions
from dashboard.web import COOKIE, bp, set_session_cookie, viewer
from runtime import runtime

log = logging.getLogger("tuanjie.dashboard")


def home_for(role: str) -> str:
    return url_for("dashboard.me") if role == "staff" else url_for("dashboard.overview")


@bp.get("/login")
def login_page(error: str | None = None, status: int = 200):
    who = viewer()
    if who is not None and error is None:
        return redirect(home_for(who.role))
    qr = _login_qr()
    return render_template("login.html", qr=qr and qr[0], qr_url=qr and qr[1], error=error), status


def _login_qr() -> tuple[str, str] | None:
    """(SVG, what it encodes) of a QR code whose scene only this browser knows (kept in its signed
    session, reused until it expires), or None when the account may not create scene QR codes."""
    rt = runtime()
    if not rt.config.scene_qr:
        return None
    now = rt.clock()
    kept = session.get("qr")
    if not (isinstance(kept, dict) and kept.get("until", 0) > now.timestamp() + 30):
        kept = _new_login_qr(rt, now)
        if kept is None:
            return None
        session["qr"] = kept
    return segno.make(kept["url"], error="m").svg_inline(scale=5, title="用微信扫码登录"), kept["url"]


def _new_login_qr(rt, now) -> dict | None:
    minutes = rt.config.dashboard.login_link_minutes
    secret = sessions.issue_qr(now, minutes)
    try:
        answer = rt.client.call("POST", "qrcode/create", {
            "expire_seconds": minutes * 60, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": sessions.QR_PREFIX + secret}}})
    except WeChatError as exc:
        log.warning("no login QR code: %s", exc)
        return None
    return {"secret": secret, "url": answer["url"], "until": now.timestamp() + minutes * 60}


@bp.post("/login")
def password_login():
    rt = runtime()
    username, password = request.form.get("username", "").strip(), request.form.get("password", "")
    try:
        user = sessions.check_password(username, password, request.remote_addr or "?", rt.clock(), rt.config.dashboard)
    except sessions.TooMany as exc:
        minutes = rt.config.dashboard.failure_window_minutes
        abort(429, description=f"{'该账号' if str(exc) == 'this account' else '该地址'}登录失败次数过多，"
                               f"请 {minutes} 分钟后再试。")
    if user is None:
        return login_page(error="账号或密码不对。", status=401)
    return _logged_in(sessions.start(rt.clock(), rt.config.dashboard.session_hours, user=user), user.role)


@bp.get("/login/<secret>")
def link_login(secret: str):
    rt = runtime()
    person = sessions.redeem_link(secret, rt.clock())
    if person is None:
        return render_template("error.html", title="链接已失效",
                               text="登录链接只能用一次，5 分钟内有效。请在微信里给公众号重新发送「登录」。"), 410
    return _logged_in(sessions.start(rt.clock(), rt.config.dashboard.session_hours, person=person), person.role)


@bp.get("/login/qr")
def qr_status():
    """The login page asks every two seconds whether its QR code was scanned."""
    kept = session.get("qr")
    if not isinstance(kept, dict) or not kept.get("secret"):
        return jsonify(status="expired")
    rt = runtime()
    state, person = sessions.qr_person(kept["secret"], rt.clock())
    if state != "confirmed":
        return jsonify(status=state)
    session.pop("qr", None)
    response = jsonify(status="confirmed", next=home_for(person.role))
    set_session_cookie(response, sessions.start(rt.clock(), rt.config.dashboard.session_hours, person=person))
    return response


@bp.post("/logout")
def logout():
    who = viewer()
    if who is not None:
        sessions.end(who.session_id, runtime().clock())
    response = redirect(url_for("dashboard.login_page"))
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


def _logged_in(secret: str, role: str):
    session.clear()  # nothing from before the login carries over
    response = redirect(home_for(role))
    set_session_cookie(response, secret)
    return response
