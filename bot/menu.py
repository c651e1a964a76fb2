"""The account's menu: its buttons' CLICK keys are the ones bot.handlers answers."""
from __future__ import annotations

CHECKIN, PROGRESS, HELP, LOGIN = "CHECKIN", "PROGRESS", "HELP", "LOGIN"

MENU = {"button": [
    {"type": "click", "name": "打卡", "key": CHECKIN},
    {"type": "click", "name": "我的进度", "key": PROGRESS},
    {"name": "更多", "sub_button": [
        {"type": "click", "name": "帮助", "key": HELP},
        {"type": "click", "name": "登录后台", "key": LOGIN},
    ]},
]}
