"""What a running app holds: the config, the loaded plan and the clock. Built by create_app."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from flask import current_app

from campaign.binding import BindPolicy
from campaign.plan import Plan
from config import Config


@dataclass(frozen=True)
class Runtime:
    config: Config
    plan: Plan
    clock: Callable[[], dt.datetime]  # aware "now" in the campaign's time zone

    @property
    def bind_policy(self) -> BindPolicy:
        b = self.config.binding
        return BindPolicy(ttl=dt.timedelta(days=b.code_ttl_days), max_failures=b.max_failures,
                          window=dt.timedelta(minutes=b.failure_window_minutes))


def runtime() -> Runtime:
    return current_app.extensions["tuanjie"]
