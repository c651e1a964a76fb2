"""Outbound WeChat API client: every call to the platform passes through here.

It owns the access token, explicit timeouts, one refresh-and-retry on token errors, and the
classification of errors into permanent and transient. wechatpy's client is not used for
this: it has no stable_token, its token URL ignores API_BASE_URL, its default timeout is
None and its auto_retry recurses without bound (docs/architecture.md, "The WeChat platform").

Every failure leaves as one type, WeChatError: the platform's errcode, or -4 for a transport
failure (TransportError), with `permanent` and `may_have_left`, and the access token masked
in its message. No caller looks at a `requests` exception.

The token lives in a shared store (a database row, or Redis) so that N workers and
processes use one token: `/cgi-bin/token` would invalidate each other's, and even
stable_token is limited per day. We use stable_token, which does not rotate unless forced.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import requests
import urllib3

from campaign.clock import epoch_of, utc_from_epoch
from config import Config, WechatConfig

TIMEOUT = (3.05, 10)  # connect, read: seconds
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Retrying cannot help: not following, refused, bad openid, bad data, bad template, bad media.
PERMANENT = frozenset({43004, 43101, 40003, 47003, 47001, 40037, 40007, 45015, 45047})
QUOTA = 45009
MARGIN = 300  # refresh this many seconds before the platform's expiry


TRANSPORT = -4  # our errcode for "the request failed on the way" (no platform answer)


class WeChatError(Exception):
    """An API call that did not succeed. `permanent`: do not retry it for this person;
    `may_have_left`: the platform may have acted on it (resending could make a duplicate)."""

    def __init__(self, errcode: int, errmsg: str, permanent: bool, may_have_left: bool = False):
        errmsg = mask_token(errmsg)
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode, self.errmsg, self.permanent, self.may_have_left = errcode, errmsg, permanent, may_have_left


class TransportError(WeChatError):
    """No answer from the platform: refused, reset or timed out on the way."""

    def __init__(self, exc: requests.RequestException):
        super().__init__(TRANSPORT, f"{type(exc).__name__}: {exc}", permanent=False, may_have_left=_may_have_left(exc))
        self.args = (self.errmsg,)  # "ConnectionError: ...", without our -4


def classify(errcode: int) -> bool:
    """True when the error is permanent for that message."""
    return errcode in PERMANENT


_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s'\"),]+")


def mask_token(text: str) -> str:
    """requests puts the URL, access_token included, in its error messages: mask it."""
    return _TOKEN_IN_URL.sub(r"\1***", text)


def _may_have_left(exc: requests.RequestException) -> bool:
    """False only when the request certainly never reached the platform."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return not isinstance(inner, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))
    return True


Fetch = Callable[[bool], tuple[str, int]]  # force_refresh -> (token, expires_in)


def _fresh(token: str | None, expires: float, failed: str | None) -> bool:
    """A token worth using: present, not the one that was just refused, not about to expire."""
    return bool(token) and token != failed and expires - MARGIN > time.time()


class TokenStore(Protocol):
    def current(self) -> tuple[str, float] | None: ...

    def refresh(self, fetch: Fetch, failed: str | None) -> tuple[str, float]: ...


class DatabaseTokenStore:
    """One row per AppID; refreshes serialise on a write lock (BEGIN IMMEDIATE / FOR UPDATE)."""

    def __init__(self, app_id: str):
        self.app_id = app_id

    def current(self) -> tuple[str, float] | None:
        from models import AccessToken, db

        with db.connection_context():
            row = AccessToken.get_or_none(AccessToken.app_id == self.app_id)
        return (row.token, epoch_of(row.expires_at)) if row else None

    def refresh(self, fetch: Fetch, failed: str | None) -> tuple[str, float]:
        from peewee import SqliteDatabase

        from models import AccessToken, db

        with db.connection_context():
            if isinstance(db.obj, SqliteDatabase):
                return self._refresh_sqlite(fetch, failed)
            # A row to lock, so that concurrent refreshers queue on it (a row lock: other
            # writers, the webhook's among them, are not held up by the HTTP fetch).
            AccessToken.insert(app_id=self.app_id, token="", expires_at=utc_from_epoch(0),
                               updated_at=utc_from_epoch(time.time())).on_conflict_ignore().execute()
            with db.atomic():
                row = AccessToken.select().where(AccessToken.app_id == self.app_id).for_update().get()
                if _fresh(row.token, epoch_of(row.expires_at), failed):
                    return row.token, epoch_of(row.expires_at)
                return self._store(fetch, failed)

    def _refresh_sqlite(self, fetch: Fetch, failed: str | None) -> tuple[str, float]:
        """SQLite locks the whole database for a write: the HTTP fetch must not run inside
        one, or every webhook would wait for it. Refreshers queue on a lock file instead."""
        import fcntl

        from models import AccessToken, db

        with open(f"{db.obj.database}.token.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                row = AccessToken.get_or_none(AccessToken.app_id == self.app_id)
                if row is not None and _fresh(row.token, epoch_of(row.expires_at), failed):
                    return row.token, epoch_of(row.expires_at)
                return self._store(fetch, failed)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _store(self, fetch: Fetch, failed: str | None) -> tuple[str, float]:
        from models import AccessToken, db

        token, expires_in = fetch(failed is not None)
        expires, now = time.time() + expires_in, utc_from_epoch(time.time())
        with db.atomic():
            updated = (AccessToken.update(token=token, expires_at=utc_from_epoch(expires), updated_at=now)
                       .where(AccessToken.app_id == self.app_id).execute())
            if not updated:
                AccessToken.insert(app_id=self.app_id, token=token, expires_at=utc_from_epoch(expires),
                                   updated_at=now).execute()
        return token, expires


class RedisTokenStore:
    """The token in Redis, refreshes serialised by a SET NX lock with an expiry."""

    LOCK_TTL_MS = 15000

    def __init__(self, url: str, app_id: str):
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        self.key, self.lock_key = f"tuanjie:token:{app_id}", f"tuanjie:token:{app_id}:lock"

    def current(self) -> tuple[str, float] | None:
        raw = self.redis.get(self.key)
        if not raw:
            return None
        data = json.loads(raw)
        return data["token"], data["expires"]

    def refresh(self, fetch: Fetch, failed: str | None) -> tuple[str, float]:
        import secrets

        me = secrets.token_hex(8)
        deadline = time.monotonic() + self.LOCK_TTL_MS / 1000
        while not self.redis.set(self.lock_key, me, nx=True, px=self.LOCK_TTL_MS):
            if time.monotonic() > deadline:
                raise WeChatError(-2, "token lock in Redis not released", permanent=False)
            time.sleep(0.05)  # another process is fetching; its result will be in the store
        try:
            have = self.current()
            if have and _fresh(*have, failed):
                return have
            token, expires_in = fetch(failed is not None)
            expires = time.time() + expires_in
            self.redis.set(self.key, json.dumps({"token": token, "expires": expires}),
                           px=int(expires_in * 1000))
            return token, expires
        finally:
            if self.redis.get(self.lock_key) == me.encode():
                self.redis.delete(self.lock_key)


@dataclass
class _Cached:
    token: str | None = None
    expires: float = 0.0


class Client:
    """Thread-safe; give each process one Client (it keeps one requests.Session per thread)."""

    def __init__(self, config: WechatConfig, store: TokenStore | None = None, timeout=TIMEOUT):
        self.config = config
        self.base = config.api_base.rstrip("/")
        self.store = store or DatabaseTokenStore(config.app_id)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._cached = _Cached()
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            # Reading proxy settings from the environment on every call cost ~7% of the
            # sender's CPU (bench/fanout.py); the API is reached directly.
            s.trust_env = False
        return s

    # tokens ----------------------------------------------------------------------------
    def _fetch(self, force: bool) -> tuple[str, int]:
        data = self._check(self._request("POST", f"{self.base}/cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": self.config.app_id,
            "secret": self.config.app_secret, "force_refresh": force}))
        return data["access_token"], int(data["expires_in"])

    def token(self, failed: str | None = None) -> str:
        """The current token. With `failed`, that token was refused: replace it once.

        Threads queue on a lock, and processes on the store's lock; whoever comes second
        finds the token already replaced and fetches nothing.
        """
        with self._lock:
            c = self._cached
            if _fresh(c.token, c.expires, failed):
                return c.token
            have = self.store.current()
            if have and _fresh(*have, failed):
                c.token, c.expires = have
                return c.token
            c.token, c.expires = self.store.refresh(self._fetch, failed)
            return c.token

    # calls -----------------------------------------------------------------------------
    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> dict:
        """One API call; a token error refreshes once (if nobody else did) and retries once."""
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        token = self.token()
        for attempt in (1, 2):
            r = self._request(method, f"{self.base}/cgi-bin/{path}", params={**(params or {}), "access_token": token},
                              data=data, headers={"Content-Type": "application/json"} if data else None)
            try:
                return self._check(r)
            except WeChatError as exc:
                if exc.errcode in TOKEN_ERRORS and attempt == 1:
                    token = self.token(failed=token)
                    continue
                raise
        raise AssertionError("unreachable")

    def _request(self, method: str, url: str, **kw) -> requests.Response:
        """The one place a request leaves: explicit timeouts, transport failures as TransportError."""
        try:
            return self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise TransportError(exc) from None

    @staticmethod
    def _check(r: requests.Response) -> dict:
        if r.status_code >= 500:
            raise WeChatError(r.status_code, f"HTTP {r.status_code}", permanent=False)
        try:
            data = r.json()
        except ValueError:
            raise WeChatError(-3, f"HTTP {r.status_code}: not JSON", permanent=False) from None
        errcode = int(data.get("errcode", 0) or 0)
        if errcode:
            raise WeChatError(errcode, str(data.get("errmsg", "")), classify(errcode))
        return data

    # the endpoints we use --------------------------------------------------------------
    def send_template(self, openid: str, template_id: str, data: dict[str, str], url: str | None = None) -> str | None:
        body = {"touser": openid, "template_id": template_id,
                "data": {k: {"value": v} for k, v in data.items()}}
        if url:
            body["url"] = url
        msgid = self.call("POST", "message/template/send", body).get("msgid")
        return None if msgid is None else str(msgid)

    def send_subscribe(self, openid: str, template_id: str, data: dict[str, str]) -> None:
        self.call("POST", "message/subscribe/bizsend", {
            "touser": openid, "template_id": template_id, "data": {k: {"value": v} for k, v in data.items()}})

    def send_text(self, openid: str, text: str) -> None:
        self.call("POST", "message/custom/send", {"touser": openid, "msgtype": "text", "text": {"content": text}})

    def create_menu(self, menu: dict) -> None:
        self.call("POST", "menu/create", menu)



def build_client(config: Config) -> Client:
    """The process's one client, with the token store the config names."""
    w, p = config.wechat, config.push
    store = RedisTokenStore(p.redis_url, w.app_id) if p.token_store == "redis" else DatabaseTokenStore(w.app_id)
    return Client(w, store)
