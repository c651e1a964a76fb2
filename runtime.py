"""What a running app holds: the config, the loaded plan and the clock. Built by create_app."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from flask import current_app

from bot.security import Envelope
from campaign.binding import BindPolicy
from campaign.plan import Plan, load_plan
from config import Config


@dataclass(frozen=True)
class Runtime:
    config: Config
    plan: Plan  # as loaded at start-up (and validated then)
    clock: Callable[[], dt.datetime]  # aware "now" in the campaign's time zone
    _by_year: dict = field(default_factory=dict, repr=False)

    def plan_on(self, day: dt.date) -> Plan:
        """The plan for the year of `day`: a server running across New Year follows the new
        year's dates and counts (check-ins are kept per campaign year)."""
        if day.year == self.plan.year:
            return self.plan
        if day.year not in self._by_year:
            self._by_year[day.year] = load_plan(self.config.plan_path, day)
        return self._by_year[day.year]

    @cached_property
    def envelope(self) -> Envelope:
        """The AES envelope of safe and compat mode: it only holds the key, so one serves every request."""
        w = self.config.wechat
        return Envelope(w.token, w.encoding_aes_key, w.app_id)

    @cached_property
    def bind_policy(self) -> BindPolicy:
        b = self.config.binding
        return BindPolicy(ttl=dt.timedelta(days=b.code_ttl_days), max_failures=b.max_failures,
                          window=dt.timedelta(minutes=b.failure_window_minutes))


def runtime() -> Runtime:
    return current_app.extensions["tuanjie"]
