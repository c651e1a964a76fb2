"""A third app for bench/webhook.py (`--floor`): the echo plus the least a durable check-in needs.

Everything bench/echo_app.py does, and in between, on Tuanjie's own SQLite schema with raw
sqlite3 (no peewee, no handler, no validation, no error handling): look the message up by
its dedup key; take the writers' queue (flock) and BEGIN IMMEDIATE; find the person; insert
the check-in (ignored when already done); count the person's items; store the message with
its reply and its (timestamp, nonce); COMMIT. It answers "✅ 已记录 …" like Tuanjie.

It is not a product: it shows what share of the echo's throughput the storage alone leaves,
so the distance between it and Tuanjie is the cost of Tuanjie's own code.

Reads [wechat] and the SQLite path from TUANJIE_CONFIG, or the file named by FLOOR_DB.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import os
import sqlite3
import tomllib

from flask import Flask, Response, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply

from bench.common import SHIPPED_PLAN
from campaign.plan import load_plan


def create_app() -> Flask:
    with open(os.environ["TUANJIE_CONFIG"], "rb") as fh:
        cfg = tomllib.load(fh)
    wechat = cfg["wechat"]
    path = os.environ.get("FLOOR_DB") or cfg["database"]["url"][len("sqlite:///"):]
    crypto = WeChatCrypto(wechat["token"], wechat["encoding_aes_key"], wechat["app_id"])
    main = load_plan(SHIPPED_PLAN, dt.date.today()).main
    items = [i.key for i in main.items]
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA synchronous = normal")
    queue = open(f"{path}.writers", "a")
    app = Flask(__name__)

    @app.post("/wechat")
    def receive():
        args = request.args
        xml = crypto.decrypt_message(request.get_data(), args.get("msg_signature"), args.get("timestamp"),
                                     args.get("nonce"))
        msg = parse_message(xml)
        key = f"m:{msg.id}"
        row = db.execute("SELECT reply FROM inboundmessage WHERE dedup_key = ?", (key,)).fetchone()
        reply = row[0] if row else None
        if reply is None:
            fcntl.flock(queue, fcntl.LOCK_EX)
            try:
                db.execute("BEGIN IMMEDIATE")
                staff_id, department_id = db.execute("SELECT id, department_id FROM staff WHERE openid = ?",
                                                     (msg.source,)).fetchone()
                now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
                item = items[int(msg.content.split()[-1]) - 1]
                created = db.execute(
                    "INSERT OR IGNORE INTO checkin (staff_id, department_id, checklist, item, year, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (staff_id, department_id, main.key, item, main.year, now)).rowcount
                done = db.execute("SELECT COUNT(*) FROM checkin WHERE staff_id = ? AND checklist = ? AND year = ?",
                                  (staff_id, main.key, main.year)).fetchone()[0]
                reply = f"{'✅ 已记录' if created else '已完成过'} {done}/{len(items)}"
                db.execute("INSERT INTO inboundmessage (dedup_key, openid, msg_type, body, received_at, reply, failed, "
                           "timestamp, nonce) VALUES (?, ?, 'text', ?, ?, ?, 0, ?, ?)",
                           (key, msg.source, xml, now, reply, int(args["timestamp"]), args["nonce"]))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                fcntl.flock(queue, fcntl.LOCK_UN)
        out = TextReply(message=msg, content=reply).render()
        return Response(crypto.encrypt_message(out, args.get("nonce")), content_type="application/xml")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
