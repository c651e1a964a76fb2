"""The dashboard's pages: the overview, a department's pending people and its 催办, one's own
progress, and the evidence gallery with its files. Each renders what campaign/ returns."""
from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess

from flask import Response, abort, redirect, render_template, request, stream_with_context, url_for

from campaign import access, checkins, evidence, outbox, people, sessions, stats
from campaign import overview as figures
from campaign.clock import from_utc
from campaign.objects import Missing, StoreError
from dashboard.web import bp, department_asked, require, scope, viewer
from runtime import runtime
from schedules import fanout, occurrences

log = logging.getLogger("tuanjie.dashboard")


def _plan_and_checklist():
    rt = runtime()
    now = rt.clock()
    plan = rt.plan_on(now.date())
    key = request.args.get("checklist") or request.form.get("checklist")
    checklist = (plan.checklist(key) or plan.find_checklist(key)) if key else plan.main
    if checklist is None:
        abort(404)
    return rt, now, plan, checklist


@bp.get("/")
@require("overview")
def overview():
    rt, now, plan, checklist = _plan_and_checklist()
    department_id = access.figures_department(scope())
    view = figures.view(checklist, plan, now, department_id)
    phase, days_left = figures.phase_now(plan, now.date())
    calendar = rt.jobs.calendar(plan)
    chart = json.dumps({"labels": [d for d, _ in view.timeline], "rates": [r for _, r in view.timeline],
                        "target": plan.target}, ensure_ascii=False)
    # one url_for, not one per department: 500 of them were half of a large unit's page
    return render_template("overview.html", plan=plan, checklist=checklist, view=view, phase=phase,
                           pending_base=url_for("dashboard.pending"),
                           days_left=days_left, chart=chart, whole_unit=department_id is None,
                           calendar=getattr(calendar, "state", lambda year: None)(now.year),
                           lost=evidence.counts()[evidence.LOST] if department_id is None else 0)


@bp.get("/pending")
@require("pending")
def pending():
    rt, now, plan, checklist = _plan_and_checklist()
    department = department_asked()
    if department is None:  # an organiser without a department: choose one on the overview
        return redirect(url_for("dashboard.overview", checklist=checklist.key) + "#departments")
    key = outbox.urge_key(checklist.key, department.id, now.date())
    urged = outbox.occurrence_of(key)
    not_now = rt.jobs.not_now(now)
    rows = [] if checklist.collective else stats.pending_detail(checklist, department.id)
    return render_template("pending.html", checklist=checklist, department=department, rows=rows,
                           not_started=sum(1 for r in rows if not r.done),
                           department_left=stats.department_left(checklist, department.id)
                           if checklist.collective else None, urged=urged,
                           urged_by=sessions.actor_name(urged.created_by) if urged else None,
                           urged_states=outbox.states_of(key) if urged else None,
                           not_now=(_why_not_now(not_now[0]), not_now[1]) if not_now else None,
                           plan=plan)


def _why_not_now(why: str) -> str:
    """schedules.occurrences.quiet_reason's answer, as an organiser reads it."""
    words = {occurrences.NOT_A_WORKDAY: "今天不是工作日", occurrences.QUIET_HOURS: "免打扰时段"}
    return next((w for begins, w in words.items() if why.startswith(begins)), why)


@bp.post("/urge")
@require("urge")
def urge():
    rt, now, plan, checklist = _plan_and_checklist()
    department = department_asked()
    if department is None or checklist.collective:
        abort(400)
    rt.jobs.urge(plan, checklist, department.id, department.name, viewer().who, now)
    return redirect(url_for("dashboard.pending", department=department.id, checklist=checklist.key) + "#urge")


@bp.get("/me")
@require("me")
def me():
    rt, now, plan, _ = _plan_and_checklist()
    person = viewer().staff
    lists = [(c, checkins.done_for(person, c)) for c in plan.checklists]
    return render_template("me.html", person=person, lists=lists, pieces=evidence.of_person(person), tz=rt.config.tz)


@bp.get("/gallery")
@require("gallery")
def gallery():
    rt, now, plan, _ = _plan_and_checklist()
    s, department = scope(), department_asked()
    department_id = department.id if department else None
    day = _day(request.args.get("date"))
    page = max(1, request.args.get("page", 1, type=int))
    shown, total = evidence.gallery(department_id, request.args.get("checklist") or None,
                                    request.args.get("item") or None, day, rt.config.tz, page)
    return render_template("gallery.html", shown=shown, total=total, page=page, pages=max(1, -(-total // 48)),
                           plan=plan, departments=people.departments() if s.whole_unit else [],
                           department_id=department_id, day=day, tz=rt.config.tz, args=request.args)


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        abort(400)


@bp.get("/media/<int:piece_id>/<any(thumb, file, audio):what>")
def media(piece_id: int, what: str):
    """A piece's thumbnail, file, or (a voice message) playable audio: only for who may see it.
    Addressed by id and checked each time: no guessable path, no path at all from the request."""
    who = viewer()
    piece = evidence.get(piece_id)
    if who is None or piece is None or piece.state != evidence.STORED or not piece.sha256:
        abort(404)
    if not access.may_see_piece(who.staff, scope(), piece):
        abort(403)
    archive = runtime().archive
    if what == "audio":
        return _playable(archive, piece)
    sha, mime = (piece.thumb, "image/jpeg") if what == "thumb" else (piece.sha256, piece.mime)
    if not sha:
        abort(404)
    headers = {"Content-Disposition": f'attachment; filename="evidence-{piece.id}.{piece.ext or "bin"}"'} \
        if not (mime or "").startswith(("image/", "video/")) else {}
    return Response(stream_with_context(_chunks(_opened(archive, sha))), mimetype=mime or "application/octet-stream",
                    headers=headers)


def _opened(archive, sha256: str):
    """The file's stream, opened before any header is sent: not in the store → 404, the store
    out of reach → 503 (logged with the setting to check)."""
    try:
        return archive.open(sha256)
    except Missing:
        abort(404)
    except StoreError as exc:
        log.error("dashboard: evidence file %s: %s", sha256[:12], exc)
        abort(503)


def _chunks(stream):
    with stream:
        while chunk := stream.read(1 << 16):
            yield chunk


PLAYABLE = ("audio/mpeg", "audio/ogg")  # what browsers play as it is
TRANSCODED = ("audio/amr", "audio/silk")  # WeChat's voice: played only through ffmpeg


@bp.app_template_filter("playable")
def _is_playable(piece) -> bool:
    """Whether the gallery offers a player: without ffmpeg an AMR player would only show an error."""
    return piece.mime in PLAYABLE or (piece.mime in TRANSCODED and shutil.which("ffmpeg") is not None)


def _playable(archive, piece):
    """AMR, which browsers cannot play, as Ogg when ffmpeg is installed; else 404 (the page
    offers the file itself instead)."""
    if piece.mime in PLAYABLE:
        return Response(stream_with_context(_chunks(_opened(archive, piece.sha256))), mimetype=piece.mime)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None or piece.mime not in TRANSCODED:
        abort(404)
    with _opened(archive, piece.sha256) as stream:
        voice = stream.read()  # at most 2 MB (the platform's limit for voice)
    done = subprocess.run([ffmpeg, "-loglevel", "error", "-i", "pipe:0", "-f", "ogg", "-"], input=voice,
                          capture_output=True, timeout=30)
    if done.returncode != 0:
        abort(404)
    return Response(done.stdout, mimetype="audio/ogg")


CALENDAR_WORDS = {"official (chinese-calendar)": "国务院公布的安排", "official by plan": "计划中录入的国务院安排",
                  "provisional: statutory holidays by rule, make-up workdays unknown":
                  "暂定：法定节假日按规则推算，调休未知，请在国务院公布后录入"}


@bp.app_template_filter("calendar_words")
def _calendar_words(state: str) -> str:
    return CALENDAR_WORDS.get(state, state)


@bp.app_template_filter("skipped_words")
def _skipped_words(occurrence) -> str:
    """"未发：本周提醒已满 3 人。" for an occurrence that passed people over, else ""."""
    skipped = json.loads(occurrence.skipped or "{}") if occurrence is not None else {}
    if not skipped:
        return ""
    return "未发：" + "，".join(f"{fanout.SKIPPED_WORDS.get(why, why)} {n} 人" for why, n in skipped.items()) + "。"


@bp.app_template_filter("local")
def _local(stored: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return from_utc(stored, runtime().config.tz).strftime(fmt) if stored else ""


@bp.app_template_filter("urlencode_args")
def _urlencode_args(args, **changes) -> str:
    from urllib.parse import urlencode

    return urlencode({**{k: v for k, v in args.items() if v}, **changes})


@bp.app_template_filter("pct")
def _pct(rate: float) -> str:
    return stats.pct(rate)
