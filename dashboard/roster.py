"""The roster and binding on the dashboard: upload a roster file (the importer's line-numbered
report, and the sync's list of who would be marked left, before anyone is), set one person's
status, issue binding codes and print them as slips."""
from __future__ import annotations

import secrets
from pathlib import Path

import segno
from flask import abort, render_template, request

from bot.errors import WeChatError
from campaign import binding, people, roster
from dashboard.web import bp, require
from runtime import runtime

UPLOAD_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")


@bp.get("/roster")
@require("roster")
def roster_page(report=None, missing=None, refusal=None, pending_file=None, message=None, status=200):
    departments = people.departments()
    chosen = request.args.get("department", type=int) or (departments[0].id if departments else None)
    name = next((d.name for d in departments if d.id == chosen), None)
    listed = people.listing(name) if name else []
    return render_template("roster.html", departments=departments, chosen=chosen, listed=listed, report=report,
                           missing=missing, refusal=refusal, pending_file=pending_file, message=message,
                           statuses=roster.words_for(roster.STATUS_WORDS, roster.STATUSES)), status


def _uploads() -> Path:
    rt = runtime()
    folder = rt.config.path(rt.config.storage.private_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


@bp.post("/roster/upload")
@require("roster")
def upload_roster():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return roster_page(message="请选择名单文件（CSV、XLSX 或 XLS）。", status=400)
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        return roster_page(message=f"不支持的文件类型 {suffix or '（无）'}：请用 CSV、XLSX 或 XLS。", status=400)
    kept = _uploads() / f"{secrets.token_hex(16)}{suffix}"
    upload.save(kept)
    sync = request.form.get("sync") == "1"
    return _import(kept, dry_run=sync, sync=sync)


@bp.post("/roster/sync")
@require("roster")
def confirm_sync():
    """The preview's confirm button: the same file again, for real, then who is missing is marked left."""
    token = request.form.get("file", "")
    if not token or "/" in token or not (_uploads() / token).is_file():
        abort(400)
    return _import(_uploads() / token, dry_run=False, sync=True, confirm=True, force=request.form.get("force") == "1")


def _import(path: Path, dry_run: bool, sync: bool, confirm: bool = False, force: bool = False):
    try:
        report = roster.import_roster(path, dry_run=dry_run)
    except roster.RosterError as exc:
        path.unlink(missing_ok=True)
        return roster_page(message=str(exc).replace(str(path), "名单文件"), status=400)
    if not sync:
        path.unlink(missing_ok=True)
        return roster_page(report=report)
    missing = people.absent_from(report.phones)
    refusal = roster.sync_refusal(report, missing, people.on_roster_count() + (report.created if dry_run else 0), force)
    if confirm and refusal is None:
        people.mark_left(missing)
        path.unlink(missing_ok=True)
        return roster_page(report=report, message=f"已将 {len(missing)} 人标为离职（记录保留，不计入统计）。")
    return roster_page(report=report, missing=missing, refusal=refusal,
                       pending_file=path.name if refusal is None or not report.rejected else None)


@bp.post("/roster/status")
@require("roster")
def set_status():
    person = people.by_phone(request.form.get("phone", ""))
    status = roster.parse_status(request.form.get("status", ""))
    if person is None or status is None:
        return roster_page(message="没有这个手机号，或状态不对。", status=400)
    old = people.set_status(person, status)
    return roster_page(message=f"{person.name}：{old} → {status}")


@bp.post("/roster/codes")
@require("roster")
def issue_codes():
    """Fresh codes for the department's unbound people, as a page of slips to print (the codes are
    kept hashed: this page is the only time they are shown)."""
    rt = runtime()
    name = request.form.get("department") or None
    if name is not None and people.department_named(name) is None:
        abort(400)
    issued = binding.issue_codes(rt.clock(), rt.bind_policy, name, request.form.get("rebind") == "1")
    expires = rt.clock() + rt.bind_policy.ttl
    return render_template("slips.html", slips=[(p, code, _slip_qr(rt, code)) for p, code in issued],
                           expires=expires)


def _slip_qr(rt, code: str) -> tuple[str, str] | None:
    """(SVG, what it encodes) of the platform's scene QR for the code (scanning it binds), where
    the account may create them; None: the slip shows the code and how to send it."""
    if not rt.config.scene_qr:
        return None
    try:
        answer = rt.client.call("POST", "qrcode/create", {
            "expire_seconds": min(int(rt.bind_policy.ttl.total_seconds()), 2_592_000), "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": code}}})
    except WeChatError:
        return None
    return segno.make(answer["url"], error="m").svg_inline(scale=3, title=f"绑定码 {code}"), answer["url"]
