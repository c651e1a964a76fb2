"""Run the emulator: python -m emulator [--host 127.0.0.1] [--port 8001] [--webhook URL]."""
from __future__ import annotations

import argparse
import logging

from config import APP_ROOT, load_config
from server import configure_logging
from emulator.app import Settings, create_emulator, users_from_roster


def _quiet_polling(record: logging.LogRecord) -> bool:
    """The chat page asks for new messages every second: those requests are not logged at INFO."""
    text = record.getMessage()
    return not (record.levelno <= logging.INFO and ("/chat/api/messages" in text or "/chat/api/state" in text)
                and '" 200 ' in text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Local WeChat emulator: fake API and chat page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--webhook", default="http://127.0.0.1:8000/wechat")
    parser.add_argument("--roster", default=str(APP_ROOT / "plans" / "demo_roster.csv"))
    args = parser.parse_args(argv)
    config = load_config()
    configure_logging(config.tz, "%(asctime)s emulator %(levelname)s: %(message)s")
    logging.getLogger("werkzeug").addFilter(_quiet_polling)
    w = config.wechat
    settings = Settings(webhook_url=args.webhook, token=w.token, encoding_aes_key=w.encoding_aes_key,
                        app_id=w.app_id, app_secret=w.app_secret, mode=w.encrypt_mode,
                        users=users_from_roster(args.roster))
    app = create_emulator(settings)
    print(f"Chat page: http://{args.host}:{args.port}/", flush=True)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
