"""Delivering user messages to the webhook the way WeChat does.

WeChat waits 5 s for an answer and, without one, delivers again: three deliveries in all.
"success" or an empty body means no reply; anything that is not XML (or a non-200, or no
answer after three tries) shows the user "该公众号暂时无法提供服务，请稍后再试".
"""
from __future__ import annotations

from dataclasses import dataclass

import requests

from emulator.inbound import Signer

UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"


@dataclass(frozen=True)
class Outcome:
    status: str  # "reply", "empty" or "failed"
    text: str | None
    attempts: int
    detail: str = ""


class Delivery:
    def __init__(self, webhook_url: str, signer: Signer, timeout: float = 5.0, attempts: int = 3):
        self.webhook_url, self.signer = webhook_url, signer
        self.timeout, self.attempts = timeout, attempts
        self.session = requests.Session()

    def deliver(self, xml: str) -> Outcome:
        detail = ""
        for attempt in range(1, self.attempts + 1):
            signed = self.signer.sign_request(xml)  # each retry is signed afresh, as WeChat does
            try:
                r = self.session.post(f"{self.webhook_url}?{signed.query_string}", data=signed.body,
                                      timeout=(2.0, self.timeout))
            except requests.Timeout:
                detail = f"no answer within {self.timeout:g} s"
                continue
            except requests.ConnectionError as exc:
                detail = f"connection failed: {exc.__class__.__name__}"
                continue
            return self._judge(r, attempt)
        return Outcome("failed", UNAVAILABLE, self.attempts, detail)

    def _judge(self, r: requests.Response, attempt: int) -> Outcome:
        body = r.text.strip()
        if r.status_code != 200:
            return Outcome("failed", UNAVAILABLE, attempt, f"HTTP {r.status_code}")
        if body in ("", "success"):
            return Outcome("empty", None, attempt)
        try:
            text = self.signer.reply_text(body, {})
        except Exception as exc:  # not XML, bad signature, cannot decrypt: WeChat gives up the same way
            return Outcome("failed", UNAVAILABLE, attempt, f"unreadable reply: {type(exc).__name__}")
        if text is None:
            return Outcome("failed", UNAVAILABLE, attempt, "reply without Content")
        return Outcome("reply", text, attempt)
