"""The baseline for bench/webhook.py: the least a safe-mode WeChat webhook can do.

Verify msg_signature and decrypt (wechatpy), parse (wechatpy.parse_message), build a
TextReply and encrypt it. No database, no timestamp or replay checks, no dedup: whatever
Tuanjie spends beyond this is the cost of its own logic and storage.

Reads [wechat] token, encoding_aes_key and app_id from the TOML file named by
TUANJIE_CONFIG, so it is keyed exactly like the Tuanjie server it is compared with:

    TUANJIE_CONFIG=/tmp/x/config.toml gunicorn -w 2 -k sync 'bench.echo_app:create_app()'
"""
from __future__ import annotations

import os
import tomllib

from flask import Flask, Response, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply


def create_app(config_path: str | None = None) -> Flask:
    path = config_path or os.environ["TUANJIE_CONFIG"]
    with open(path, "rb") as fh:
        wechat = tomllib.load(fh)["wechat"]
    # One crypto object for the life of the worker: it only holds the key.
    crypto = WeChatCrypto(wechat["token"], wechat["encoding_aes_key"], wechat["app_id"])
    app = Flask(__name__)

    @app.post("/wechat")
    def receive():
        args = request.args
        try:
            xml = crypto.decrypt_message(request.get_data(), args.get("msg_signature"),
                                         args.get("timestamp"), args.get("nonce"))
        except (InvalidSignatureException, InvalidAppIdException):
            return Response("bad signature", status=403, content_type="text/plain")
        msg = parse_message(xml)
        reply = TextReply(message=msg, content=f"echo: {getattr(msg, 'content', '')}").render()
        return Response(crypto.encrypt_message(reply, args.get("nonce")), content_type="application/xml")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
