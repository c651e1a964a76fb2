"""The fake WeChat API (/cgi-bin/...) and its control endpoints (/_emu/...)."""
from __future__ import annotations

import functools
import time

from flask import Blueprint, Response, current_app, jsonify, request

from emulator.platform import ERRMSG, ApiError, template_spec

bp = Blueprint("emu_api", __name__)


def emu():
    return current_app.extensions["emulator"]


def error(errcode: int, detail: str = ""):
    msg = f"{ERRMSG.get(errcode, 'error')} {detail}".strip()
    return jsonify(errcode=errcode, errmsg=msg)


def endpoint(name: str, needs_token: bool = True):
    """Log the call, apply injected faults, check the access_token, map ApiError to JSON."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            e = emu()
            platform = e.platform
            body = request.get_json(force=True, silent=True)
            entry = {"endpoint": name, "at": platform.now(), "args": request.args.to_dict(),
                     "json": body, "errcode": None}
            platform.log(entry)
            latency, injected = platform.next_fault(name)
            if latency:
                time.sleep(min(latency, 30))
            if injected == "timeout":  # no answer in time: the client gives up; the log says so, not -1
                entry["errcode"] = "timeout"
                time.sleep(min(platform.timeout_seconds, 30))
                return error(-1, "(injected timeout: answered late)")
            if injected in ("500", 500, "5xx"):
                entry["errcode"] = 500
                return Response("upstream error", status=500)
            if injected == "reset":  # the connection drops after the request arrived: no answer at all
                entry["errcode"] = "reset"
                _drop_connection()
                return Response("", status=200)
            if injected is not None:
                entry["errcode"] = int(injected)
                return error(int(injected), "(injected)")
            try:
                if needs_token:
                    platform.check_token(request.args.get("access_token"))
                result = view(*args, **kwargs)
            except ApiError as exc:
                entry["errcode"] = exc.errcode
                return jsonify(errcode=exc.errcode, errmsg=str(exc))
            if isinstance(result, dict):
                entry["errcode"] = result.setdefault("errcode", 0)
                result.setdefault("errmsg", "ok")
                return jsonify(result)
            entry["errcode"] = 0
            return result

        return inner

    return wrap


def _drop_connection() -> None:
    """Close the client's socket without a response, as a proxy or network fault does."""
    import socket

    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


@bp.get("/cgi-bin/token")
@endpoint("token", needs_token=False)
def token():
    if request.args.get("grant_type") != "client_credential":
        raise ApiError(40002, "grant_type must be client_credential")
    return emu().platform.token(request.args.get("appid", ""), request.args.get("secret", ""))


@bp.post("/cgi-bin/stable_token")
@endpoint("stable_token", needs_token=False)
def stable_token():
    body = request.get_json(force=True, silent=True) or {}
    if body.get("grant_type") != "client_credential":
        raise ApiError(47001, "grant_type must be client_credential")
    return emu().platform.stable_token(body.get("appid", ""), body.get("secret", ""),
                                       bool(body.get("force_refresh", False)))


def _json_body() -> dict:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(44002 if not request.data else 47001)
    return body


@bp.post("/cgi-bin/message/custom/send")
@endpoint("message/custom/send")
def custom_send():
    body = _json_body()
    openid = body.get("touser", "")
    emu().platform.custom_send(openid)
    content = (body.get("text") or {}).get("content") if body.get("msgtype") == "text" else f"[{body.get('msgtype')}]"
    emu().chat.push(openid, "bot", "text", content or "")
    return {}


@bp.post("/cgi-bin/message/template/send")
@endpoint("message/template/send")
def template_send():
    body = _json_body()
    e = emu()
    openid, template_id, data = body.get("touser", ""), body.get("template_id", ""), body.get("data")
    msgid = e.platform.template_send(openid, template_id, data)
    spec = e.platform.templates[template_id]
    e.chat.push(openid, "bot", "template",
                {"template_id": template_id, "url": body.get("url"), "title": spec["title"],
                 "labels": spec["fields"], "fields": {k: v.get("value") for k, v in data.items()}})
    status = "failed:user block" if e.platform.user(openid).blocked else "success"
    e.finish_job_later(openid, msgid, status)
    return {"msgid": msgid}


@bp.post("/cgi-bin/message/subscribe/bizsend")
@endpoint("message/subscribe/bizsend")
def subscribe_send():
    body = _json_body()
    e = emu()
    openid, template_id = body.get("touser", ""), body.get("template_id", "")
    e.platform.subscribe_send(openid, template_id)
    e.chat.push(openid, "bot", "template",
                {"template_id": template_id, "url": body.get("page"),
                 "fields": {k: (v or {}).get("value") for k, v in (body.get("data") or {}).items()}})
    return {}


@bp.post("/cgi-bin/media/upload")
@endpoint("media/upload")
def media_upload():
    kind = request.args.get("type", "image")
    upload = request.files.get("media")
    if upload is None:
        raise ApiError(41005, "media file missing")
    return emu().platform.add_media(kind, upload.read(), upload.filename or "media", upload.mimetype)


@bp.get("/cgi-bin/media/get")
@endpoint("media/get")
def media_get():
    """An image or voice message's file; for a video, JSON naming the URL to fetch it from, as
    the platform answers (wechatpy's media.download returns that dict instead of a file)."""
    media_id = request.args.get("media_id", "")
    m = emu().platform.get_media(media_id)
    if m["type"] in ("video", "shortvideo"):
        return {"video_url": f"{request.host_url.rstrip('/')}/_emu/video/{media_id}"}
    return Response(m["content"], content_type=m["mimetype"] or "application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{m["filename"]}"'})


@bp.get("/_emu/video/<media_id>")
@endpoint("video", needs_token=False)
def video_file(media_id):
    """The CDN address media/get names for a video: the file, no token needed."""
    m = emu().platform.get_media(media_id)
    return Response(m["content"], content_type=m["mimetype"] or "video/mp4")


@bp.post("/cgi-bin/menu/create")
@endpoint("menu/create")
def menu_create():
    emu().platform.set_menu(_json_body())
    return {}


@bp.get("/cgi-bin/menu/get")
@endpoint("menu/get")
def menu_get():
    menu = emu().platform.menu
    if menu is None:
        raise ApiError(46003, "menu no exist")
    return {"menu": menu}


@bp.post("/cgi-bin/qrcode/create")
@endpoint("qrcode/create")
def qrcode_create():
    return emu().platform.qrcode(_json_body())


@bp.get("/cgi-bin/user/info")
@endpoint("user/info")
def user_info():
    platform = emu().platform
    openid = request.args.get("openid", "")
    user = platform.users.get(openid)
    if user is None:
        raise ApiError(40003)
    # Since 2021 the platform returns no nickname or avatar: identity comes from our roster.
    return {"subscribe": int(user.following), "openid": openid, "language": "zh_CN",
            "subscribe_scene": "ADD_SCENE_QR_CODE"}


# --- control endpoints for tests, benchmarks and the chat page -------------------------------

@bp.post("/_emu/reset")
def reset():
    e = emu()
    e.platform.reset()
    e.chat.reset()
    return jsonify(ok=True)


@bp.post("/_emu/clock")
def clock():
    body = request.get_json(force=True, silent=True) or {}
    e = emu()
    if "advance" in body:
        e.platform.advance(float(body["advance"]))
    return jsonify(now=e.platform.now(), offset=e.platform.offset)


@bp.post("/_emu/faults")
def faults():
    body = request.get_json(force=True, silent=True) or {}
    name = body.get("endpoint")
    if not name:
        return jsonify(error="endpoint is required (e.g. message/template/send, or * for all)"), 400
    emu().platform.set_fault(name, int(body.get("latency_ms", 0)), float(body.get("error_rate", 0.0)),
                             body.get("sequence"))
    if "timeout_seconds" in body:
        emu().platform.timeout_seconds = float(body["timeout_seconds"])
    return jsonify(ok=True)


@bp.post("/_emu/templates")
def templates():
    """Configure templates: {"TPL_X": ["thing1", "time2"]} or {"TPL_X": {"title": "活动提醒",
    "fields": {"thing1": "活动名称", ...}}} (the labels the WeChat client shows)."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not all(isinstance(v, (list, dict)) for v in body.values()):
        return jsonify(error='expected {"TEMPLATE_ID": ["field", ...]} or {"TEMPLATE_ID": {"title", "fields"}}'), 400
    with emu().platform.lock:
        emu().platform.templates.update({str(k): template_spec(v) for k, v in body.items()})
    return jsonify(ok=True, templates=emu().platform.templates)


@bp.get("/_emu/calls")
def calls():
    name = request.args.get("endpoint")
    with emu().platform.lock:
        rows = [c for c in emu().platform.calls if name is None or c["endpoint"] == name]
    return jsonify(calls=rows, count=len(rows))


@bp.delete("/_emu/calls")
def clear_calls():
    with emu().platform.lock:
        emu().platform.calls.clear()
    return jsonify(ok=True)


@bp.post("/_emu/users")
def set_user():
    """Create or change a user: {openid, following?, blocked?, optin?: template_id, name?}.

    {"openids": [...]} creates many following users at once (for benchmarks).
    """
    body = request.get_json(force=True, silent=True) or {}
    if isinstance(body.get("openids"), list):
        for openid in body["openids"]:
            emu().platform.user(str(openid))
        return jsonify(ok=True, count=len(body["openids"]))
    openid = body.get("openid")
    if not openid:
        return jsonify(error="openid is required"), 400
    platform = emu().platform
    user = platform.user(openid)
    with platform.lock:
        for key in ("following", "blocked", "name"):
            if key in body:
                setattr(user, key, body[key])
    if body.get("optin"):
        platform.optin(openid, body["optin"], int(body.get("count", 1)))
    if body.get("window"):
        platform.open_window(openid, body["window"])
    return jsonify(ok=True)

