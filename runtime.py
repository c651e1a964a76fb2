"""What a running app holds, built once by create_app (the composition root): the config,
the plan source, the clock, and the parts every side shares: one outbound client, the jobs."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from flask import current_app

from bot.client import Client, build_client
from bot.media import Fetcher, FetchSummary
from bot.security import Envelope
from bot.spool import Spool
from campaign import objects
from campaign.archive import Archive
from campaign.binding import BindPolicy
from campaign.plan import Plan, PlanSource
from config import Config
from schedules.jobs import Jobs
from storage.engine import db

log = logging.getLogger("tuanjie")


@dataclass(frozen=True)
class Runtime:
    config: Config
    plans: PlanSource
    clock: Callable[[], dt.datetime]  # aware "now" in the campaign's time zone

    def plan_on(self, day: dt.date) -> Plan:
        """The plan for the year of `day`: a server running across New Year follows the new
        year's dates and counts (check-ins are kept per campaign year)."""
        return self.plans.on(day)

    @cached_property
    def envelope(self) -> Envelope:
        """The AES envelope of safe and compat mode: it only holds the key, so one serves every request."""
        w = self.config.wechat
        return Envelope(w.token, w.encoding_aes_key, w.app_id)

    @cached_property
    def bind_policy(self) -> BindPolicy:
        return BindPolicy.of(self.config.binding)

    @cached_property
    def client(self) -> Client:
        """The process's one outbound client (token store, timeouts), for web, CLI and scheduler."""
        return build_client(self.config)

    @cached_property
    def spool(self) -> Spool:
        """Where messages wait while the database cannot be reached (this machine's disk)."""
        return Spool(self.config.path(self.config.storage.spool_dir))

    @cached_property
    def archive(self) -> Archive:
        """The evidence archive's files, in the store [storage] backend names (this machine's
        disk, or the bucket every machine shares); files being written wait in media_dir/tmp."""
        storage = self.config.storage
        media_dir = self.config.path(storage.media_dir)
        return Archive(objects.from_config(storage, media_dir, pool=storage.media_concurrency + 4), media_dir / "tmp")

    @cached_property
    def jobs(self) -> Jobs:
        from bot.webhook import drain

        return Jobs(self.config, self.plans, self.client,
                    extra={"spool": (lambda now: drain(self), 10),
                           "media": (lambda now: self.fetch_media(now).stored, 5),
                           "stats": (self.refresh_stats, 60),
                           # what a killed media job left half-written in media_dir/tmp, after a day
                           "sweep": (lambda now: self.archive.sweep(), 3600),
                           "assessment": (self.apply_assessment, 3600)})

    def refresh_stats(self, now: dt.datetime) -> int:
        """The stats job: a large unit's overview figures, computed once a minute for every page."""
        from campaign import overview

        with db.connection_context():
            return overview.refresh_all(self.plans.on(now.date()), now)

    def apply_assessment(self, now: dt.datetime) -> int:
        """The assessment job: the plan's rules whose occasion has come, each applied once."""
        from campaign import assessment

        with db.connection_context():
            try:
                written = assessment.apply_rules(self.plans.on(now.date()), now)
            except assessment.Frozen:
                return 0  # the table is final: nothing is left to apply
        if written:
            log.info("assessment: %d entries by the plan's rules", len(written))
        return len(written)

    def fetch_media(self, now: dt.datetime, stop=None) -> FetchSummary:
        """The media job: what people sent as evidence, from WeChat into the archive."""
        offset = now - self.clock()  # run-job --now: the job's clock starts there and runs on
        summary = Fetcher(self.client, self.archive, self.config.storage.media_concurrency,
                          lambda: self.clock() + offset).run(connection=db.connection_context, stop=stop)
        if summary.handled:
            log.info("media: %s", summary.describe())
        return summary


def runtime() -> Runtime:
    return current_app.extensions["tuanjie"]
