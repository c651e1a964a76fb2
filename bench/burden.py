#!/usr/bin/env python3
"""The burden of reminders on people: a season of the seed plan stepped through the scheduler.

    .venv/bin/python bench/burden.py                      # or: make bench-burden
    .venv/bin/python bench/burden.py --start 2026-03-20 --end 2026-06-30 --keep

What it does, all on 127.0.0.1 and in one process:

- a world in a temp dir: a config.toml (SQLite file, the shipped seed plan, the config's defaults
  for every push rule), `flask init-db` and `flask import-staff` of 40 people in 4 departments
  (each with a leader; one organiser), everyone bound (one UPDATE of the openids) and following
  at the local emulator (emulator/app.py, served by a thread; its delivery callbacks dropped);
- the season stepped day by day, weekends and holidays included: at 08:00, 09:30, 10:00, 10:30,
  14:00 and 21:00 it runs `flask run-job remind --now T` then `flask run-job send --now T`
  (the CLI commands themselves, through Flask's CLI runner, so no process start-up per step);
- people behave in fixed ways (seeded): 3 leaders and the organiser finish early, 1 leader never
  starts; of the 35 staff 14 finish in their own time (21 March to 30 April), 10 answer each
  nudge they get with one item at noon the next day (done after five), 11 never answer.

Every template message the emulator accepts is counted at the platform, for the person it went
to and for the step that sent it, and labelled by its title (the plan's reminder, the digest, or
an escalation of the code before digests). The report: messages per person per month for people
done (finished before the month began), pending (not finished by its end), finishing (in it),
leaders and the organiser (max and mean); sends on a day off or in quiet hours; nudges to people
already finished; pending people whom no participation reminder (a nudge, the phase-end notice,
a leader's digest) reached in a month of the 组织实施 phase. Targets: done <= 3, pending <= 5,
leaders <= 6, 0 off-hours sends, 0 nudges after finishing, 0 pending people left unreminded.

It runs against whatever tree it sits in: copied into an older checkout (its bench/common.py
and seed plan), it measures that code (its config has no key that code lacks).
Exit status: 0 when the season ran (targets met or not), 2 when set-up failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import SetupError, busy_share, machine_cpu, temp_dir, write_config  # noqa: E402

APP_ID, APP_SECRET, TOKEN, API_TOKEN = "wx0000bench00burden", "bench-secret", "benchToken17", "bench-api-token-17"
STEPS = (dt.time(8, 0), dt.time(9, 30), dt.time(10, 0), dt.time(10, 30), dt.time(14, 0), dt.time(21, 0))
DEPARTMENTS = ("办公室", "组织科", "宣传科", "统战科")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
TARGETS = {"done": 3, "pending": 5, "leaders": 6}


# --------------------------------------------------------------------------- the world

def roster(seed: int) -> list[dict]:
    """40 people: name, department, phone, role, behaviour."""
    rng = random.Random(seed)
    names = rng.sample([s + g + h for s in SURNAMES for g in GIVEN for h in ("", "华")], 40)
    kinds = ["early"] * 14 + ["answers"] * 10 + ["silent"] * 11
    rng.shuffle(kinds)
    people = []
    for d, department in enumerate(DEPARTMENTS):
        for i in range(10):
            n = d * 10 + i
            role = "leader" if i == 0 else "organiser" if (d, i) == (0, 1) else "staff"
            kind = ("silent" if d == 3 else "early") if role == "leader" else "early" if role == "organiser" \
                else kinds.pop()
            people.append({"name": names[n], "department": department, "phone": f"139{n:08d}", "role": role,
                           "kind": kind})
    return people


def start_emulator():
    """The emulator on a free port, served by a thread; TEMPLATESENDJOBFINISH callbacks dropped
    (the platform's work, and nobody listens for them here)."""
    from werkzeug.serving import make_server

    from config import DEMO_AES_KEY
    from emulator.app import Settings, create_emulator

    app = create_emulator(Settings(webhook_url="http://127.0.0.1:9/wechat", token=TOKEN, encoding_aes_key=DEMO_AES_KEY,
                                   app_id=APP_ID, app_secret=APP_SECRET, mode="safe", users=()))
    emulator = app.extensions["emulator"]
    emulator.finish_job_later = lambda openid, msgid, status: None
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, emulator


class World:
    def __init__(self, tmp: Path, people: list[dict], emulator_base: str):
        from config import load_config
        from server import create_app

        path = write_config(tmp / "config.toml", app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN,
                            db_file=tmp / "burden.db", api_base=emulator_base, api_token=API_TOKEN)
        self.app = create_app(load_config(path, environ={}))
        for name in ("tuanjie", "werkzeug"):  # a line per step and request would bury the report
            logging.getLogger(name).setLevel(logging.WARNING)
        self.runtime = self.app.extensions["tuanjie"]
        self.cli = self.app.test_cli_runner()
        self.run("init-db")
        lines = ["姓名,部门,手机号,角色,状态"] + [f"{p['name']},{p['department']},{p['phone']},{p['role']},"
                                             for p in people]
        (tmp / "roster.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.run("import-staff", str(tmp / "roster.csv"))

    def run(self, *args: str) -> str:
        result = self.cli.invoke(args=list(args))
        if result.exit_code != 0:
            raise SetupError(f"flask {' '.join(args)}: {result.output}{result.exception or ''}")
        return result.output


def bind_everyone(world: World, emulator) -> dict[str, str]:
    """phone -> openid; every person bound and following."""
    from models import Staff, db

    with db.connection_context():
        for person in Staff.select():
            Staff.update(openid=f"o-{person.phone}").where(Staff.id == person.id).execute()
        openids = {p.phone: p.openid for p in Staff.select()}
    for openid in openids.values():
        emulator.platform.user(openid).following = True
    return openids


# --------------------------------------------------------------------------- the season

class Season:
    """Steps the scheduler through the days, lets people act, and counts what reached them."""

    def __init__(self, world: World, emulator, people: list[dict], openids: dict[str, str], seed: int):
        self.world, self.emulator, self.people = world, emulator, people
        self.by_openid = {openids[p["phone"]]: p for p in people}
        self.tz = world.runtime.config.tz
        self.rng = random.Random(seed + 1)
        self.received: list[tuple[dt.datetime, str, str]] = []  # (step, openid, label)
        self.finished: dict[str, dt.datetime] = {}  # phone -> when the last item was done
        self.done_items: Counter = Counter()
        self.plans_early = {p["phone"]: self._early_days() for p in people if p["kind"] == "early"}
        self.answers: dict[dt.date, list[str]] = defaultdict(list)
        self.seen = 0

    def _early_days(self) -> list[dt.date]:
        first = dt.date(2026, 3, 21) + dt.timedelta(days=self.rng.randrange(0, 41))
        return sorted(first + dt.timedelta(days=self.rng.randrange(0, 3)) for _ in range(5))

    def run(self, start: dt.date, end: dt.date) -> None:
        day = start
        while day <= end:
            for at in STEPS:
                now = dt.datetime.combine(day, at, tzinfo=self.tz)
                if at == dt.time(14, 0):
                    self._act(day)
                self.world.run("run-job", "remind", "--now", now.isoformat(timespec="minutes"))
                self.world.run("run-job", "send", "--now", now.isoformat(timespec="minutes"))
                self._collect(now)
            day += dt.timedelta(days=1)

    def _collect(self, now: dt.datetime) -> None:
        """The template messages the platform accepted since the last step: sent at `now`."""
        with self.emulator.platform.lock:
            calls = [c for c in self.emulator.platform.calls[self.seen:]]
            self.seen = len(self.emulator.platform.calls)
        for call in calls:
            if call["endpoint"] != "message/template/send" or call.get("errcode") not in (0, None):
                continue
            body = call["json"] or {}
            label = label_of(self.world, (body.get("data") or {}).get("thing1", {}).get("value", ""))
            self.received.append((now, body.get("touser"), label))
            person = self.by_openid.get(body.get("touser"))
            if person and label == "nudge" and person["kind"] == "answers":
                self.answers[_next_day(now.date())].append(person["phone"])

    def _act(self, day: dt.date) -> None:
        """Check-ins at noon: the early ones' own days, and answers to yesterday's nudges."""
        from campaign.checkins import check_in
        from models import Staff, db

        noon = dt.datetime.combine(day, dt.time(12, 0), tzinfo=self.tz)
        doing = [phone for phone, days in self.plans_early.items() for d in days if d == day]
        doing += self.answers.pop(day, [])
        plan = self.world.runtime.plan_on(day)
        with db.connection_context():
            for phone in doing:
                n = self.done_items[phone]
                if n >= len(plan.main.items):
                    continue
                check_in(Staff.get(Staff.phone == phone), plan.main, plan.main.items[n], noon)
                self.done_items[phone] += 1
                if self.done_items[phone] == len(plan.main.items):
                    self.finished[phone] = noon


def _next_day(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)


_LABELS: dict[str, str] = {}


def label_of(world: World, title: str) -> str:
    """What a message was, by its title: the plan's reminder kinds (and 通知), or an escalation."""
    if not _LABELS:
        for reminder in world.runtime.plan_on(dt.date(2026, 6, 1)).reminders:
            _LABELS[reminder.title] = {"phase_start": "phase", "phase_end": "phase"}.get(reminder.kind, reminder.kind)
    if title in _LABELS:
        return _LABELS[title]
    return "escalation" if title.startswith("本部门") else "other"


# --------------------------------------------------------------------------- the report

def month_of(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m}"


def group_of(person: dict, finished: dt.datetime | None, month: str) -> str:
    if person["role"] == "leader":
        return "leaders"
    if person["role"] == "organiser":
        return "organiser"
    if finished is not None and month_of(finished) < month:
        return "done"
    if finished is None or month_of(finished) > month:
        return "pending"
    return "finishing"


def report(season: Season, months: list[str], quiet, cal) -> dict:
    from schedules.occurrences import is_quiet

    per = defaultdict(Counter)  # (month, phone) -> labels
    off_hours, after_done = [], []
    for when, openid, label in season.received:
        person = season.by_openid.get(openid)
        if person is None:
            continue
        per[(month_of(when), person["phone"])][label] += 1
        if is_quiet(when, quiet, cal):
            off_hours.append((when, person["name"], label))
        done_at = season.finished.get(person["phone"])
        if label == "nudge" and done_at is not None and when > done_at:
            after_done.append((when, person["name"]))
    rows, worst = [], Counter()
    for month in months:
        groups = defaultdict(list)
        for p in season.people:
            groups[group_of(p, season.finished.get(p["phone"]), month)].append(per[(month, p["phone"])])
        for group in ("done", "finishing", "pending", "leaders", "organiser"):
            counts = groups.get(group, [])
            if not counts:
                continue
            totals = [sum(c.values()) for c in counts]
            kinds = sum(counts, Counter())
            rows.append((month, group, len(counts), max(totals), sum(totals) / len(totals), kinds))
            worst[group] = max(worst[group], max(totals))
    return {"rows": rows, "worst": worst, "off_hours": off_hours, "after_done": after_done,
            "unreminded": unreminded(season, per, months)}


# What reminds a pending person to take part: a nudge; a leader's digest names them too.
REMINDED, LEADERS_REMINDED = ("nudge",), ("nudge", "digest")


def unreminded(season: Season, per, months: list[str]) -> list[tuple[str, str]]:
    """(month, name) of pending people no participation reminder reached, in the months of the
    组织实施 phase (from April: nudges begin on 11 April)."""
    out = []
    for month in months:
        if month < "2026-04":
            continue
        for p in season.people:
            finished = season.finished.get(p["phone"])
            if finished is not None and month_of(finished) <= month:
                continue
            labels = per[(month, p["phone"])]
            if not any(labels[k] for k in (LEADERS_REMINDED if p["role"] == "leader" else REMINDED)):
                out.append((month, p["name"]))
    return out


def print_report(result: dict, elapsed: float, load: tuple, busy: float | None) -> None:
    print(f"{'month':<8} {'group':<10} {'people':>6} {'max':>4} {'mean':>5}  what (all of them)")
    for month, group, n, most, mean, kinds in result["rows"]:
        what = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        print(f"{month:<8} {group:<10} {n:>6} {most:>4} {mean:>5.1f}  {what}")
    print()
    for group, limit in TARGETS.items():
        got = result["worst"].get(group, 0)
        print(f"target: {group} <= {limit} a month: worst {got}  {'MET' if got <= limit else 'MISSED'}")
    print(f"target: organiser (as anyone) <= 5: worst {result['worst'].get('organiser', 0)}")
    print(f"target: 0 sends on a day off or in quiet hours: {len(result['off_hours'])}"
          + "".join(f"\n  {w:%Y-%m-%d %a %H:%M} {n} {label}" for w, n, label in result["off_hours"][:10]))
    print(f"target: 0 nudges to people already finished: {len(result['after_done'])}"
          + "".join(f"\n  {w:%Y-%m-%d %H:%M} {n}" for w, n in result["after_done"][:10]))
    print(f"target: every pending person reminded to take part each month of 组织实施: "
          f"{len(result['unreminded'])} left out" + "".join(f"\n  {m} {n}" for m, n in result["unreminded"][:10]))
    print(f"\n{elapsed:.0f} s; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"machine busy {busy * 100:.0f}% of {os.cpu_count()} cores during the run" if busy is not None else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--start", default="2026-03-20", type=dt.date.fromisoformat)
    ap.add_argument("--end", default="2026-06-30", type=dt.date.fromisoformat)
    ap.add_argument("--seed", default=17, type=int)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (config, database)")
    args = ap.parse_args(argv)
    if not (args.start <= args.end and (args.end - args.start).days <= 366):
        print("--start must come before --end, within a year", file=sys.stderr)
        return 2
    os.environ.pop("TUANJIE_CONFIG", None)
    people = roster(args.seed)
    httpd, emulator = start_emulator()
    try:
        with temp_dir("tuanjie-burden-", args.keep) as tmp:
            world = World(tmp, people, f"http://127.0.0.1:{httpd.server_port}")
            season = Season(world, emulator, people, bind_everyone(world, emulator), args.seed)
            print(f"{len(people)} people, {args.start} to {args.end}, steps {', '.join(f'{t:%H:%M}' for t in STEPS)}; "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)
            began, cpu = time.monotonic(), machine_cpu()
            season.run(args.start, args.end)
            busy = busy_share(cpu, machine_cpu())
            plan = world.runtime.plan_on(args.start)
            cal = world.runtime.jobs.calendar(plan)
            months = sorted({f"{args.start + dt.timedelta(days=d):%Y-%m}" for d in range((args.end - args.start).days + 1)})
            result = report(season, months, world.runtime.config.push.quiet(), cal)
            print_report(result, time.monotonic() - began, os.getloadavg(), busy)
    except SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 2
    finally:
        httpd.shutdown()
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
