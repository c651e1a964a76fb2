"""State and rules of the fake WeChat platform: tokens, users and their windows, media,
menus, QR tickets, templates, subscription opt-ins, the call log and fault injection.

Every rule is the platform's (docs/architecture.md, "The WeChat platform"). Time is emulated: real time plus an
offset that tests move forward, so windows and expiries can be crossed without waiting.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

TOKEN_TTL = 7200
TOKEN_GRACE = 300  # an old /cgi-bin/token token lives this long after a new one is issued
TOKEN_DAILY_LIMIT = 2000
STABLE_DAILY_LIMIT = 10000
MEDIA_TTL = 3 * 86400
MESSAGE_WINDOW = 48 * 3600
MESSAGE_WINDOW_COUNT = 5
EVENT_WINDOW = 60
EVENT_WINDOW_COUNT = 3
TEMPLATE_VALUE_MAX = 20

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40013: "invalid appid",
    40016: "invalid button size",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40023: "invalid sub button size",
    40027: "invalid sub button name size",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41005: "media data missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    46003: "menu no exist",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    47003: "argument invalid!",
}


def template_spec(spec) -> dict:
    """A template as the emulator keeps it: {"title", "fields": {keyword: label}}, from that
    shape or a plain list of keywords (labelled by themselves)."""
    if isinstance(spec, dict):
        return {"title": str(spec.get("title") or "提醒通知"),
                "fields": {str(k): str(v) for k, v in (spec.get("fields") or {}).items()}}
    return {"title": "提醒通知", "fields": {str(k): str(k) for k in spec}}


class ApiError(Exception):
    def __init__(self, errcode: int, detail: str = ""):
        self.errcode = errcode
        msg = ERRMSG.get(errcode, "error")
        super().__init__(f"{msg} {detail}".strip())


@dataclass
class Token:
    value: str
    expires_at: float
    family: str  # "basic" (/cgi-bin/token) or "stable"


@dataclass
class User:
    openid: str
    name: str = ""
    following: bool = True
    blocked: bool = False  # blocked template messages: deliveries end in "failed:user block"
    window_kind: str | None = None  # "message" or "event"
    window_opened: float = 0.0
    window_sent: int = 0
    optins: dict = field(default_factory=dict)  # template_id -> remaining one-time opt-ins


@dataclass
class Fault:
    latency_ms: int = 0
    error_rate: float = 0.0
    sequence: list = field(default_factory=list)  # errcodes, "500", "timeout" consumed one per call


class Platform:
    def __init__(self, app_id: str, app_secret: str, templates: dict | None = None):
        self.app_id, self.app_secret = app_id, app_secret
        self.templates = {str(k): template_spec(v) for k, v in (templates or {}).items()}
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.offset = 0.0
            self.tokens: dict[str, Token] = {}
            self.current = {"basic": None, "stable": None}
            self.token_calls = {"basic": 0, "stable": 0}
            self.quota_day = self.day()
            self.users: dict[str, User] = {}
            self.media: dict[str, dict] = {}
            self.menu: dict | None = None
            self.tickets: dict[str, dict] = {}
            self.calls: list[dict] = []
            self.faults: dict[str, Fault] = {}
            self.timeout_seconds = 6.0
            self.msgids = 1000

    # time -------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.offset

    def day(self) -> int:
        return int((time.time() + self.offset + 8 * 3600) // 86400)  # quota resets at Beijing midnight

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += seconds

    # tokens -----------------------------------------------------------------------------
    def _count_token_call(self, family: str) -> None:
        if self.day() != self.quota_day:
            self.quota_day, self.token_calls = self.day(), {"basic": 0, "stable": 0}
        limit = TOKEN_DAILY_LIMIT if family == "basic" else STABLE_DAILY_LIMIT
        if self.token_calls[family] >= limit:
            raise ApiError(45009)
        self.token_calls[family] += 1

    def _issue(self, family: str) -> Token:
        now = self.now()
        old = self.current[family]
        if old is not None and old.value in self.tokens:
            old.expires_at = min(old.expires_at, now + TOKEN_GRACE)
        token = Token(secrets.token_urlsafe(48), now + TOKEN_TTL, family)
        self.tokens[token.value] = token
        self.current[family] = token
        return token

    def token(self, appid: str, secret: str) -> dict:
        """GET /cgi-bin/token: every call issues a new token; the previous one has 5 minutes left."""
        with self.lock:
            if appid != self.app_id:
                raise ApiError(40013)
            if secret != self.app_secret:
                raise ApiError(40001, "AppSecret error")
            self._count_token_call("basic")
            token = self._issue("basic")
            return {"access_token": token.value, "expires_in": TOKEN_TTL}

    def stable_token(self, appid: str, secret: str, force_refresh: bool) -> dict:
        """POST /cgi-bin/stable_token: the same token until it expires, unless force_refresh."""
        with self.lock:
            if appid != self.app_id:
                raise ApiError(40013)
            if secret != self.app_secret:
                raise ApiError(40125)
            self._count_token_call("stable")
            token = self.current["stable"]
            if force_refresh or token is None or token.expires_at <= self.now():
                token = self._issue("stable")
            return {"access_token": token.value, "expires_in": int(token.expires_at - self.now())}

    def check_token(self, value: str | None) -> None:
        with self.lock:
            if not value:
                raise ApiError(41001)
            token = self.tokens.get(value)
            if token is None:
                raise ApiError(40001)
            if token.expires_at <= self.now():
                raise ApiError(42001)

    # users and windows ------------------------------------------------------------------
    def user(self, openid: str) -> User:
        with self.lock:
            return self.users.setdefault(openid, User(openid))

    def open_window(self, openid: str, kind: str) -> None:
        """The user wrote (kind "message") or clicked/followed/scanned (kind "event")."""
        with self.lock:
            u = self.user(openid)
            u.window_kind, u.window_opened, u.window_sent = kind, self.now(), 0

    def follow(self, openid: str, following: bool) -> None:
        with self.lock:
            self.user(openid).following = following

    def _require_follower(self, openid: str) -> User:
        u = self.users.get(openid)
        if u is None:
            raise ApiError(40003)
        if not u.following:
            raise ApiError(43004)
        return u

    def custom_send(self, openid: str) -> None:
        """Customer-service message: 5 in 48 h after a message, 3 in 1 min after an event."""
        with self.lock:
            u = self._require_follower(openid)
            age = self.now() - u.window_opened
            if u.window_kind == "message":
                limit_age, limit_count = MESSAGE_WINDOW, MESSAGE_WINDOW_COUNT
            elif u.window_kind == "event":
                limit_age, limit_count = EVENT_WINDOW, EVENT_WINDOW_COUNT
            else:
                raise ApiError(45015)
            if age > limit_age:
                raise ApiError(45015)
            if u.window_sent >= limit_count:
                raise ApiError(45047)
            u.window_sent += 1

    def template_send(self, openid: str, template_id: str, data: dict) -> int:
        with self.lock:
            spec = self.templates.get(template_id)
            if spec is None:
                raise ApiError(40037)
            fields = spec["fields"]
            if not isinstance(data, dict):
                raise ApiError(47001, "data must be an object")
            for key in fields:
                if key not in data:
                    raise ApiError(47003, f"data.{key} missing")
            for key, entry in data.items():
                value = entry.get("value") if isinstance(entry, dict) else None
                if not isinstance(value, str):
                    raise ApiError(47003, f"data.{key}.value invalid")
                if len(value) > TEMPLATE_VALUE_MAX or "\n" in value or "\r" in value:
                    raise ApiError(47003, f"data.{key}.value invalid")
            self._require_follower(openid)
            self.msgids += 1
            return self.msgids

    def optin(self, openid: str, template_id: str, count: int = 1) -> None:
        with self.lock:
            u = self.user(openid)
            u.optins[template_id] = u.optins.get(template_id, 0) + count

    def subscribe_send(self, openid: str, template_id: str) -> None:
        with self.lock:
            if template_id not in self.templates:
                raise ApiError(40037)
            u = self._require_follower(openid)
            if u.optins.get(template_id, 0) <= 0:
                raise ApiError(43101)
            u.optins[template_id] -= 1

    # media, menu, QR ----------------------------------------------------------------------
    def add_media(self, kind: str, content: bytes, filename: str, mimetype: str) -> dict:
        with self.lock:
            media_id = secrets.token_urlsafe(24)
            created = self.now()
            self.media[media_id] = {"type": kind, "content": content, "filename": filename,
                                    "mimetype": mimetype, "created_at": created}
            return {"type": kind, "media_id": media_id, "created_at": int(created)}

    def get_media(self, media_id: str) -> dict:
        with self.lock:
            m = self.media.get(media_id)
            if m is None or self.now() - m["created_at"] > MEDIA_TTL:
                raise ApiError(40007)
            return m

    def set_menu(self, menu: dict) -> None:
        buttons = menu.get("button") if isinstance(menu, dict) else None
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise ApiError(40016)
        for b in buttons:
            if not isinstance(b, dict) or not 1 <= len(str(b.get("name", "")).encode()) <= 16:
                raise ApiError(40018)
            subs = b.get("sub_button")
            if subs:
                if len(subs) > 5:
                    raise ApiError(40023)
                for s in subs:
                    if not 1 <= len(str(s.get("name", "")).encode()) <= 60:
                        raise ApiError(40027)
                    self._check_key(s)
            else:
                self._check_key(b)
        with self.lock:
            self.menu = menu

    @staticmethod
    def _check_key(button: dict) -> None:
        if button.get("type") == "click" and not 1 <= len(str(button.get("key", "")).encode()) <= 128:
            raise ApiError(40019)

    def qrcode(self, body: dict) -> dict:
        scene = (body.get("action_info") or {}).get("scene") or {}
        value = scene.get("scene_str", scene.get("scene_id"))
        if value is None:
            raise ApiError(47001, "action_info.scene missing")
        permanent = str(body.get("action_name", "")).startswith("QR_LIMIT")
        expire = None if permanent else int(body.get("expire_seconds", 60))
        with self.lock:
            ticket = secrets.token_urlsafe(24)
            url = f"http://weixin.qq.com/q/{ticket[:16]}"
            self.tickets[ticket] = {"scene": str(value), "url": url,
                                    "expires_at": None if permanent else self.now() + expire}
        out = {"ticket": ticket, "url": url}
        if expire is not None:
            out["expire_seconds"] = expire
        return out

    def scene_of(self, ticket: str = "", url: str = "") -> str:
        """The scene of a QR code, found by its ticket or by what the code itself holds (its url:
        what a phone's camera reads off a page)."""
        with self.lock:
            t = self.tickets.get(ticket) if ticket else next(
                (t for t in self.tickets.values() if url and t["url"] == url), None)
            if t is None or (t["expires_at"] is not None and t["expires_at"] <= self.now()):
                raise ApiError(40007, "ticket invalid or expired")
            return t["scene"]

    # faults and the call log ----------------------------------------------------------------
    def set_fault(self, endpoint: str, latency_ms: int = 0, error_rate: float = 0.0,
                  sequence: list | None = None) -> None:
        with self.lock:
            self.faults[endpoint] = Fault(latency_ms, error_rate, list(sequence or []))

    def next_fault(self, endpoint: str) -> tuple[float, object]:
        """(latency seconds, injected outcome or None) for one call."""
        import random

        with self.lock:
            f = self.faults.get(endpoint) or self.faults.get("*")
            if f is None:
                return 0.0, None
            outcome = f.sequence.pop(0) if f.sequence else None
            if outcome is None and f.error_rate and random.random() < f.error_rate:
                outcome = -1
            return f.latency_ms / 1000, outcome

    def log(self, entry: dict) -> None:
        with self.lock:
            self.calls.append(entry)
            if len(self.calls) > 100_000:  # bounded: a long benchmark must not grow memory forever
                del self.calls[:50_000]
