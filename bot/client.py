"""Outbound WeChat API client: every call to the platform passes through here.

Owns the access token (stable_token, which does not rotate in normal mode), explicit
timeouts, and errcode classification. wechatpy's client is not used for this: it has no
stable_token, its token URL ignores API_BASE_URL, its default timeout is None and its
auto_retry recurses without bound.

This first slice keeps the token in process memory; issue 4 moves it into a shared store.
"""
from __future__ import annotations

import threading
import time

import requests

from config import WechatConfig

TIMEOUT = (3.05, 10)  # connect, read
TOKEN_ERRORS = {40001, 40014, 42001}
PERMANENT = {43004, 43101, 40003, 47003, 40037, 40007}


class WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str, permanent: bool):
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode, self.errmsg, self.permanent = errcode, errmsg, permanent


def classify(errcode: int) -> bool:
    """True when retrying cannot help (the person blocked us, bad data, bad template)."""
    return errcode in PERMANENT


class Client:
    def __init__(self, config: WechatConfig, session: requests.Session | None = None):
        self.config = config
        self.base = config.api_base.rstrip("/")
        self.session = session or requests.Session()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def token(self, failed: str | None = None) -> str:
        """The current token; `failed` names a token the platform refused.

        A refused token is replaced once: if another caller already replaced it, that
        caller's token is used and no second fetch happens.
        """
        with self._lock:
            fresh = self._token is not None and time.time() < self._expires - 300
            if fresh and self._token != failed:
                return self._token
            r = self.session.post(f"{self.base}/cgi-bin/stable_token", timeout=TIMEOUT, json={
                "grant_type": "client_credential", "appid": self.config.app_id,
                "secret": self.config.app_secret, "force_refresh": failed is not None})
            data = self._json(r)
            self._token, self._expires = data["access_token"], time.time() + int(data["expires_in"])
            return self._token

    def call(self, method: str, path: str, **kwargs) -> dict:
        """One API call; a token error refreshes once and retries once."""
        token = self.token()
        for attempt in (1, 2):
            r = self.session.request(method, f"{self.base}/cgi-bin/{path}", params={"access_token": token},
                                     timeout=TIMEOUT, **kwargs)
            try:
                return self._json(r)
            except WeChatError as exc:
                if exc.errcode in TOKEN_ERRORS and attempt == 1:
                    token = self.token(failed=token)
                    continue
                raise
        raise AssertionError("unreachable")

    @staticmethod
    def _json(r: requests.Response) -> dict:
        if r.status_code >= 500:
            raise WeChatError(r.status_code, f"HTTP {r.status_code}", permanent=False)
        data = r.json()
        errcode = int(data.get("errcode", 0))
        if errcode:
            raise WeChatError(errcode, data.get("errmsg", ""), classify(errcode))
        return data

    def create_menu(self, menu: dict) -> None:
        import json

        # ensure_ascii=False: the platform counts name bytes in UTF-8, not \u escapes.
        self.call("POST", "menu/create", data=json.dumps(menu, ensure_ascii=False).encode("utf-8"),
                  headers={"Content-Type": "application/json"})


# The account's menu: CLICK keys are the ones bot.handlers understands.
MENU = {"button": [
    {"type": "click", "name": "打卡", "key": "CHECKIN"},
    {"type": "click", "name": "我的进度", "key": "PROGRESS"},
    {"type": "click", "name": "帮助", "key": "HELP"},
]}
