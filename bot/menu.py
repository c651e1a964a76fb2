"""The account's menu: its buttons' CLICK keys are the ones bot.handlers answers."""
from __future__ import annotations

CHECKIN, PROGRESS, HELP = "CHECKIN", "PROGRESS", "HELP"

MENU = {"button": [
    {"type": "click", "name": "打卡", "key": CHECKIN},
    {"type": "click", "name": "我的进度", "key": PROGRESS},
    {"type": "click", "name": "帮助", "key": HELP},
]}
