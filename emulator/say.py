"""Say something to a running server as a WeChat user would, and print the bot's reply.

    .venv/bin/python -m emulator.say demo-13800000002 "打卡 1"
    .venv/bin/python -m emulator.say --click CHECKIN demo-13800000002

Signs and encrypts with the server's own config (TUANJIE_CONFIG or the demo defaults).
"""
from __future__ import annotations

import argparse
import sys

import requests

from config import demo_run, load_config
from emulator import inbound


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("openid")
    parser.add_argument("text", nargs="?", default="")
    parser.add_argument("--click", help="send a menu CLICK event with this key instead of text")
    parser.add_argument("--url", default=None,
                        help="the webhook (default: the running `make run`'s, else http://127.0.0.1:8000/wechat)")
    args = parser.parse_args(argv)
    running = demo_run()
    args.url = args.url or (running["webhook"] if running else "http://127.0.0.1:8000/wechat")
    w = load_config().wechat
    platform = inbound.Signer(w.token, w.encoding_aes_key, w.app_id, w.encrypt_mode)
    xml = inbound.event(args.openid, "CLICK", args.click) if args.click else inbound.text(args.openid, args.text)
    signed = platform.sign_request(xml)
    try:
        r = requests.post(f"{args.url}?{signed.query_string}", data=signed.body, timeout=5)
    except requests.RequestException as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    if r.status_code != 200:
        print(f"HTTP {r.status_code}: {r.text}", file=sys.stderr)
        return 1
    print(platform.reply_text(r.text, {}) or "(no reply)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
