"""The emulator app: fake WeChat API + chat page, on its own port.

    .venv/bin/python -m emulator --port 8001 --webhook http://127.0.0.1:8000/wechat

It signs and encrypts with the same Token/EncodingAESKey/AppID as the server (read from
the server's config: TUANJIE_CONFIG or the demo defaults).
"""
from __future__ import annotations

import csv
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from emulator import api, chat, inbound
from emulator.delivery import Delivery
from emulator.platform import Platform

log = logging.getLogger(__name__)

# The reminder template the server is configured with by default: its keywords, and the title
# and labels the WeChat client shows with them (活动名称：…), as a template from the library has.
DEFAULT_TEMPLATES = {"TPL_REMINDER": {"title": "活动提醒",
                                      "fields": {"thing1": "活动名称", "thing2": "提醒内容", "time3": "时间"}}}


@dataclass(frozen=True)
class ChatUser:
    openid: str
    name: str
    label: str


@dataclass(frozen=True)
class Settings:
    webhook_url: str
    token: str
    encoding_aes_key: str
    app_id: str
    app_secret: str
    mode: str = "safe"
    templates: dict = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    users: tuple[ChatUser, ...] = ()
    account_name: str = "团结打卡"
    reply_timeout: float = 5.0
    job_finish_delay: float = 0.2


class Emulator:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.platform = Platform(settings.app_id, settings.app_secret, settings.templates)
        signer = inbound.Signer(settings.token, settings.encoding_aes_key, settings.app_id, settings.mode)
        self.delivery = Delivery(settings.webhook_url, signer, timeout=settings.reply_timeout)
        self.chat = chat.Conversations()
        self._finish_queue: queue.Queue = queue.Queue()
        self._finisher: threading.Thread | None = None
        self._finisher_lock = threading.Lock()
        self._stop = threading.Event()  # set by close(); waiting on it is an interruptible delay
        for user in settings.users:
            self.platform.user(user.openid).name = user.name

    def finish_job_later(self, openid: str, msgid: int, status: str) -> None:
        """The platform reports a template message's fate later, as a TEMPLATESENDJOBFINISH event.

        One delivery thread works through them in order, so a burst of 10,000 sends does not
        become 10,000 simultaneous callbacks to the webhook.
        """
        self._finish_queue.put((time.monotonic() + self.settings.job_finish_delay, openid, msgid, status))
        with self._finisher_lock:
            if self._finisher is None:
                self._finisher = threading.Thread(target=self._finish_loop, daemon=True)
                self._finisher.start()

    def _finish_loop(self) -> None:
        while not self._stop.is_set():
            try:
                due, openid, msgid, status = self._finish_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            self._finish_job(openid, msgid, status)

    def close(self) -> None:
        """Stop delivering: callbacks still queued are dropped (a test's world is going away)."""
        self._stop.set()
        if self._finisher is not None:
            self._finisher.join(timeout=10)

    def _finish_job(self, openid: str, msgid: int, status: str) -> None:
        outcome = self.delivery.deliver(inbound.template_finished(openid, msgid, status))
        if outcome.status == "failed":
            log.warning("TEMPLATESENDJOBFINISH for %s not accepted: %s", msgid, outcome.detail)


def create_emulator(settings: Settings) -> Flask:
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.extensions["emulator"] = Emulator(settings)
    app.register_blueprint(api.bp)
    app.register_blueprint(chat.bp)
    return app


ROLE_NAMES = {"organiser": "组织者", "leader": "部门负责人", "staff": ""}


def users_from_roster(path: str | Path) -> tuple[ChatUser, ...]:
    """Demo users as `flask --app server demo` binds them (openid demo-<phone>), with their role
    or status, those it leaves unbound marked for trying a binding code; plus a guest."""
    users = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            name, dept, phone = row.get("姓名", ""), row.get("部门", ""), row.get("手机号", "")
            if not (name and phone):
                continue
            notes = [ROLE_NAMES.get(row.get("角色") or "staff", row.get("角色") or ""), row.get("状态") or ""]
            if "不预绑定" in (row.get("备注") or ""):
                notes.append("未绑定·试绑定码")
            users.append(ChatUser(f"demo-{phone}", name, f"{name}（{'·'.join([dept] + [n for n in notes if n])}）"))
    users.append(ChatUser("guest-0001", "访客", "访客（未绑定·试绑定码）"))
    return tuple(users)
