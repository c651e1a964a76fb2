"""Organiser API: bearer-token JSON. One error type, one handler."""
from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, request

from campaign import stats
from runtime import runtime

bp = Blueprint("api", __name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    response = jsonify(error=exc.message)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="tuanjie"'
    return response


def require_token() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = runtime().config.api.token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise ApiError(401, "missing or wrong bearer token")


def query_arg(name: str) -> str | None:
    """A query parameter, also when its Chinese was sent as raw UTF-8 rather than percent-encoded
    (curl sends `?checklist=结对` as it is typed): WSGI hands those bytes over as Latin-1
    characters, which read back as UTF-8 give the word."""
    value = request.args.get(name)
    if value and not value.isascii() and all(ord(c) < 256 for c in value):
        try:
            return value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            pass
    return value


@bp.get("/api/stats")
def api_stats():
    require_token()
    rt = runtime()
    plan = rt.plan_on(rt.clock().date())
    key = query_arg("checklist")
    # By key (wuge, pairing) or by any word that names it in chat (结对, 六个一).
    checklist = plan.main if key is None else plan.checklist(key) or plan.find_checklist(key)
    if checklist is None:
        known = ", ".join(c.key for c in plan.checklists)
        raise ApiError(404, f"no checklist {key!r} in the plan (known: {known})")
    return jsonify(stats.report(checklist, plan.target).as_dict())
