"""The dashboard's frame: who the request is from, what they may open, and the headers every
page carries. Pages live in dashboard/pages.py, login in dashboard/login.py; they render what
campaign/ returns and copy no query or role rule (campaign.access holds those).

Error policy: not logged in -> the login page; a wrong role, or another department -> 403;
too many failed logins -> 429; a bad form (CSRF) -> 400. Never a page of someone else's.
"""
from __future__ import annotations

import functools
import hashlib
import hmac

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.sessions import SecureCookieSessionInterface

from campaign import access, clock, evidence, people, sessions
from runtime import runtime

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates", static_folder="static",
               static_url_path="/static")
COOKIE = "tj_session"

# No inline script anywhere (the pages' own JS is a static file), no framing, no referrer: a
# login link's secret must not leak to another site.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "media-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@bp.before_request
def _who():
    g.viewer = sessions.viewer(request.cookies.get(COOKIE), runtime().clock())


@bp.after_request
def _headers(response):
    response.headers.update(HEADERS)
    if not request.path.startswith("/dashboard/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def viewer() -> sessions.Viewer | None:
    return g.get("viewer")


def require(page: str):
    """A view for the roles campaign.access lets open `page`; others get the login or a 403."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            who = viewer()
            if who is None:
                return redirect(url_for("dashboard.login_page", next=request.path))
            if not access.may_open(who.role, page):
                abort(403)
            return view(*args, **kwargs)
        return inner
    return wrap


def scope():
    """The viewer's scope among departments (None: an admin or staff, who see no department's names)."""
    who = viewer()
    return access.scope_of(who.staff) if who and who.staff else None


def whole_number(raw: str | None) -> int | None:
    """ASCII digits as a number, else None: str.isdigit() admits "²", which int() refuses (a 500)."""
    return int(raw) if raw and raw.isascii() and raw.isdigit() else None


def department_asked():
    """The department (row) the request names (`?department=`), as campaign.access scopes it: a
    leader's own whether named or not; for an organiser the one named or None (the whole unit).
    Another department's -> 403, not a number -> 400, no such department -> 404."""
    raw = request.values.get("department") or None
    asked = whole_number(raw)
    if raw is not None and asked is None:
        abort(400)
    try:
        department_id = access.department_for(scope(), asked)
    except access.Forbidden:
        abort(403)
    department = people.department_by_id(department_id) if department_id is not None else None
    if department_id is not None and department is None:
        abort(404)
    return department


@bp.app_context_processor
def _words():
    """Stored values the templates compare against, and the words for roles and statuses."""
    return {"STORED": evidence.STORED, "LOST": evidence.LOST}


@bp.app_template_filter("role_word")
def _role_word(role: str) -> str:
    return access.ROLE_WORDS.get(role, role)


@bp.app_template_filter("status_word")
def _status_word(status: str) -> str:
    return people.STATUS_WORDS.get(status, status)


@bp.app_template_filter("md")
def _md(day) -> str:
    return clock.md(day)


@bp.app_template_global("may_open")
def _may_open(page: str) -> bool:
    """For the templates' links: the same rule as @require, so a link is never a 403."""
    who = viewer()
    return who is not None and access.may_open(who.role, page)


def set_session_cookie(response, secret: str) -> None:
    d = runtime().config.dashboard
    response.set_cookie(COOKIE, secret, max_age=d.session_hours * 3600, httponly=True, samesite="Lax",
                        secure=d.secure_cookies, path="/dashboard")


def secret_key(config) -> str:
    """The key that signs the dashboard's cookies and CSRF tokens: the configured one, or one
    derived from the account's secrets, the same in every worker."""
    if config.dashboard.secret_key:
        return config.dashboard.secret_key
    material = f"{config.wechat.app_secret}|{config.api.token}|{config.wechat.token}".encode()
    return hmac.new(b"tuanjie-dashboard", material, hashlib.sha256).hexdigest()


@bp.app_errorhandler(403)
def _forbidden(exc):
    if not request.path.startswith("/dashboard"):
        return exc
    return render_template("error.html", title="无权查看", text="这个页面不在你的权限范围内。"), 403


@bp.app_errorhandler(429)
def _too_many(exc):
    if not request.path.startswith("/dashboard"):
        return exc
    return render_template("error.html", title="尝试次数过多", text=exc.description), 429


def _csrf_refused(exc):
    return render_template("error.html", title="页面已过期", text="表单已失效，请返回上一页刷新后重试。"), 400


class DashboardSessions(SecureCookieSessionInterface):
    """The session cookie is the dashboard's alone: the webhook and the API never read or set
    it. Opening it built a signing serializer for every WeChat message (6% of a check-in's
    time in an in-process cProfile of the WSGI app); elsewhere Flask gets a null session, so a
    page outside /dashboard cannot use csrf_token() or the session (it would fail loudly)."""

    def open_session(self, app, request):
        if not request.path.startswith(bp.url_prefix):
            return None
        return super().open_session(app, request)


def init_app(app) -> None:
    """The dashboard, its CSRF protection (the webhook and the bearer API are exempt: they have
    signatures and tokens of their own), and the session cookie's settings."""
    from flask_wtf.csrf import CSRFProtect

    config = app.extensions["tuanjie"].config
    app.secret_key = secret_key(config)
    app.session_interface = DashboardSessions()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.dashboard.secure_cookies, WTF_CSRF_TIME_LIMIT=None)
    from flask_wtf.csrf import CSRFError

    csrf = CSRFProtect(app)
    app.register_error_handler(CSRFError, _csrf_refused)
    for name in ("wechat", "api"):
        csrf.exempt(app.blueprints[name])
    from dashboard import login, notices, pages, roster, yearend  # noqa: F401  (their routes join bp)

    app.register_blueprint(bp)
