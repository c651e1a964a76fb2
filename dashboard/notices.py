"""Notices: organisers write them here; recipients read them through their signed link."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from campaign import notices, outbox, people
from dashboard.web import bp, require, secret_key, viewer, whole_number
from runtime import runtime


@bp.get("/notices")
@require("notices")
def notices_page(error: str | None = None, status: int = 200):
    listed = [(n, notices.department_names(n), outbox.occurrence_of(outbox.notice_key(n.id)),
               outbox.states_of(outbox.notice_key(n.id))) for n in notices.recent()]
    return render_template("notices.html", listed=listed, departments=people.departments(), error=error,
                           limit=notices.TITLE_MAX, form=request.form), status


@bp.post("/notices")
@require("notices")
def send_notice():
    rt = runtime()
    now = rt.clock()
    chosen = None if request.form.get("to") != "some" else [n for n in map(whole_number, request.form.getlist("department"))
                                                             if n is not None]
    try:
        notice = notices.create(request.form.get("title", ""), request.form.get("body", ""), chosen,
                                viewer().who, now)
    except notices.Invalid as exc:
        return notices_page(error=str(exc), status=400)
    key, base = secret_key(rt.config), rt.config.dashboard.public_url.rstrip("/")

    def link(staff_id: int) -> str:
        return f"{base}{url_for('dashboard.read_notice', notice_id=notice.id, staff_id=staff_id)}" \
               f"?s={notices.signature(key, notice.id, staff_id)}"

    plan = rt.plan_on(now.date())
    rt.jobs.notify(plan, notice.id, notice.title, notices.department_names(notice), link, viewer().who, now)
    occurrence = outbox.occurrence_of(outbox.notice_key(notice.id))
    notices.attach_occurrence(notice, occurrence.id if occurrence else None)
    return redirect(url_for("dashboard.notices_page"))


@bp.get("/notices/<int:notice_id>")
@require("notices")
def notice_copy(notice_id: int):
    """The organisers' copy of a notice as its recipients read it."""
    notice = notices.get(notice_id)
    if notice is None:
        abort(404)
    return render_template("notice.html", notice=notice)


@bp.get("/notice/<int:notice_id>/<int:staff_id>")
def read_notice(notice_id: int, staff_id: int):
    """A notice's page, for the recipient its link was signed for."""
    notice = notices.get(notice_id)
    if notice is None or not notices.readable(secret_key(runtime().config), notice_id, staff_id,
                                              request.args.get("s", "")):
        abort(404)
    return render_template("notice.html", notice=notice)
