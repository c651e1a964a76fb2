"""WeChat as a client of the deployment: a message delivered up to three times, each delivery
signed afresh, until one is answered (as the platform retries after a failure or 5 s)."""
from __future__ import annotations

import time

import requests

from emulator import inbound


def deliver(base: str, signer: inbound.Signer, xml: str, session: requests.Session | None = None,
            attempts: int = 3, timeout: float = 5.0) -> tuple[int, str | None, float]:
    """(HTTP status of the answered delivery or -1, the reply text or why each try failed,
    seconds the answer took)."""
    http = session or requests
    status, text, took = -1, None, 0.0
    for _ in range(attempts):
        signed = signer.sign_request(xml)
        began = time.monotonic()
        try:
            r = http.post(f"{base}/wechat?{signed.query_string}", data=signed.body, timeout=timeout)
        except requests.RequestException as exc:
            # a worker killed mid-request, a connection refused: WeChat tries again
            text = f"{text or ''}[{time.monotonic() - began:.2f}s {type(exc).__name__}: {exc}]"
            continue
        took = time.monotonic() - began
        status = r.status_code
        if status == 200:
            return status, signer.reply_text(r.text, {}), took
    return status, text, took


def check_in(openid: str, item: int, msg_id: int) -> str:
    return inbound.text(openid, f"打卡 {item}", msg_id=msg_id)
