"""Outbound WeChat API client: every call to the platform passes through here.

It owns the access token, explicit timeouts, one refresh-and-retry on token errors, and the
classification of errors into permanent and transient. wechatpy's client is not used for
this: it has no stable_token, its token URL ignores API_BASE_URL, its default timeout is
None and its auto_retry recurses without bound (docs/architecture.md, "The WeChat platform").

Every failure leaves as one type, WeChatError: the platform's errcode, or -4 for a transport
failure (TransportError), with `permanent` and `may_have_left`, and the access token masked
in its message. No caller looks at a `requests` exception.

The token lives in a shared store (bot/tokens.py: a database row, or Redis) so that N workers
and processes use one token: `/cgi-bin/token` would invalidate each other's, and even
stable_token is limited per day. We use stable_token, which does not rotate unless forced.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import requests
import urllib3

from bot.errors import TRANSPORT, WeChatError, mask_token
from bot.tokens import DatabaseTokenStore, RedisTokenStore, TokenStore, fresh
from config import Config, WechatConfig

__all__ = ["Client", "build_client", "WeChatError", "TransportError", "TRANSPORT", "QUOTA", "mask_token"]

TIMEOUT = (3.05, 10)  # connect, read: seconds
DOWNLOAD_SECONDS = 60  # a media file, start to end
CHUNK = 1 << 16
MEDIA_TYPES = ("image/", "audio/", "video/", "voice/")
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Retrying cannot help: not following, refused, bad openid, bad data, bad template, bad media.
PERMANENT = frozenset({43004, 43101, 40003, 47003, 47001, 40037, 40007, 45015, 45047})
QUOTA = 45009


class TransportError(WeChatError):
    """No answer from the platform: refused, reset or timed out on the way."""

    def __init__(self, exc: requests.RequestException):
        super().__init__(TRANSPORT, f"{type(exc).__name__}: {exc}", permanent=False, may_have_left=_may_have_left(exc))
        self.args = (self.errmsg,)  # "ConnectionError: ...", without our -4


def classify(errcode: int) -> bool:
    """True when the error is permanent for that message."""
    return errcode in PERMANENT


def _may_have_left(exc: requests.RequestException) -> bool:
    """False only when the request certainly never reached the platform."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return not isinstance(inner, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))
    return True


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
            if fresh(c.token, c.expires, failed):
                return c.token
            have = self.store.current()
            if have and fresh(*have, failed):
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

    # media: wechatpy's media.download has no timeout, reads the whole body into memory and
    # returns a dict for a video; this streams, with a deadline, and follows a video's URL.
    def download_media(self, media_id: str, sink, seconds: float = DOWNLOAD_SECONDS) -> str:
        """Stream a user's media into sink.write(chunk): an image's or a voice message's file,
        or a video's, from the URL media/get answers with. Returns the Content-Type."""
        deadline = time.monotonic() + seconds
        token = self.token()
        for attempt in (1, 2):
            r = self._request("GET", f"{self.base}/cgi-bin/media/get", stream=True,
                              params={"access_token": token, "media_id": media_id})
            with r:
                first, chunks = self._first_chunk(r, deadline)
                if not first.lstrip().startswith(b"{") or r.headers.get("Content-Type", "").startswith(MEDIA_TYPES):
                    return self._copy(r, first, chunks, sink, deadline)
                try:
                    data = self._check_json(first + b"".join(chunks))
                except WeChatError as exc:
                    if exc.errcode in TOKEN_ERRORS and attempt == 1:
                        token = self.token(failed=token)
                        continue
                    raise
            url = data.get("video_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise WeChatError(-3, "media/get answered JSON with neither a file nor a video_url", permanent=True)
            with self._request("GET", url, stream=True) as video:
                first, chunks = self._first_chunk(video, deadline)
                return self._copy(video, first, chunks, sink, deadline)
        raise AssertionError("unreachable")

    def _first_chunk(self, r: requests.Response, deadline: float):
        if r.status_code >= 500:
            raise WeChatError(r.status_code, f"HTTP {r.status_code}", permanent=False)
        chunks = self._chunks(r, deadline)
        return next(chunks, b""), chunks

    @staticmethod
    def _chunks(r: requests.Response, deadline: float):
        try:
            for chunk in r.iter_content(CHUNK):
                if time.monotonic() > deadline:
                    raise WeChatError(TRANSPORT, "download took too long; will try again", permanent=False)
                yield chunk
        except requests.RequestException as exc:
            raise TransportError(exc) from None

    @staticmethod
    def _copy(r: requests.Response, first: bytes, chunks, sink, deadline: float) -> str:
        if r.status_code != 200:
            raise WeChatError(-3, f"HTTP {r.status_code} for a media file", permanent=False)
        sink.write(first)
        for chunk in chunks:
            sink.write(chunk)
        return r.headers.get("Content-Type", "application/octet-stream")

    @classmethod
    def _check_json(cls, body: bytes) -> dict:
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise WeChatError(-3, "media/get: not JSON and not a file", permanent=False) from None
        errcode = int(data.get("errcode", 0) or 0)
        if errcode:
            raise WeChatError(errcode, str(data.get("errmsg", "")), classify(errcode))
        return data



def build_client(config: Config) -> Client:
    """The process's one client, with the token store the config names."""
    w, p = config.wechat, config.push
    store = RedisTokenStore(p.redis_url, w.app_id) if p.token_store == "redis" else DatabaseTokenStore(w.app_id)
    return Client(w, store)
