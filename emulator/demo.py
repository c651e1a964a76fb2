"""`make run`: server, emulator and scheduler together, the menu created, the chat page URL printed.

Ctrl-C or SIGTERM stops all three. Waiting for start-up is a bounded poll of /healthz.

A shell that starts `make run &` without job control makes it ignore SIGINT. The launcher
handles SIGINT and SIGTERM itself before it starts the children, and a handled signal is
back at its default after exec: the SIGINT sent to them at the end stops them. A second
signal during that clean-up is ignored, so it cannot orphan them.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import requests

from config import APP_ROOT, demo_run_file


def wait_for(url: str, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def _in_use(host: str, port: int) -> bool:
    """Something already answers there: the new server would fail to bind while the old one
    answered our start-up checks."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


_received: list[int] = []  # the signal that stopped the launcher


def _interrupt(signum, frame):
    """Ctrl-C or SIGTERM: stop the children."""
    _ignore_signals()
    _received.append(signum)
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    """From the first signal on, or once the children stopped by themselves: an impatient
    second one must not cut the clean-up short and orphan them."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _write_run_file(api_base: str, server: str) -> None:
    path = demo_run_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"api_base": api_base, "server": server, "webhook": f"{server}/wechat",
                                   "pid": os.getpid()}), encoding="utf-8")
    partial.replace(path)


def _take_the_terminal() -> int | None:
    """Put the launcher and its children in a process group of their own, in the terminal's
    foreground: Ctrl-C then reaches them and not `make`, which would report "*** Interrupt" for
    a clean stop. Returns the group to hand the terminal back to, or None without a terminal."""
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
            return None  # no terminal, or started in the background: leave things as they are
        previous = os.tcgetpgrp(fd)
        os.setpgid(0, 0)
        _foreground(fd, os.getpgrp())
        return previous
    except OSError:
        return None


def _foreground(fd: int, group: int) -> None:
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not, otherwise
    try:
        os.tcsetpgrp(fd, group)
    finally:
        signal.signal(signal.SIGTTOU, old)


def main() -> int:
    previous = _take_the_terminal()
    try:
        return _run(owns_terminal=previous is not None)
    finally:
        if previous is not None:
            try:
                _foreground(sys.stdin.fileno(), previous)
            except OSError:
                pass


def _run(owns_terminal: bool) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    emu_port = int(os.environ.get("EMU_PORT", str(port + 1)))
    # Listening on every interface (HOST=0.0.0.0), the two still talk over loopback: the demo's
    # public secrets are only accepted towards a loopback API (config.py).
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    env = dict(os.environ, TUANJIE_WECHAT_API_BASE=f"http://{local}:{emu_port}")
    env.setdefault("TUANJIE_PUBLIC_URL", f"http://{local}:{port}")  # the bot's 登录 links open this server
    for p in (port, emu_port):
        if _in_use(local, p):
            print(f"port {p} on {local} is in use (another `make run`?): stop it, or choose another with "
                  f"PORT=…", file=sys.stderr)
            return 1
    procs: list[subprocess.Popen] = []
    try:
        return _serve(procs, env, host, local, port, emu_port)
    except KeyboardInterrupt:
        return 0
    finally:
        _ignore_signals()
        demo_run_file().unlink(missing_ok=True)
        # Ctrl-C in our terminal reached the children too: let them stop on it, or a second
        # SIGINT interrupts their clean-up (a KeyboardInterrupt traceback from atexit).
        _stop(procs, already_told=owns_terminal and _received[:1] == [signal.SIGINT])


def _serve(procs: list, env: dict, host: str, local: str, port: int, emu_port: int) -> int:
    py = sys.executable
    for args in ([py, "-m", "emulator", "--host", host, "--port", str(emu_port), "--webhook",
                  f"http://{local}:{port}/wechat"],
                 [py, "-m", "flask", "--app", "server", "run", "--host", host, "--port", str(port)],
                 # Reminders land in the chat page as template cards, on workdays in daytime.
                 [py, "-m", "flask", "--app", "server", "scheduler"]):
        procs.append(subprocess.Popen(args, cwd=APP_ROOT, env=env))
    if not (wait_for(f"http://{local}:{port}/healthz") and wait_for(f"http://{local}:{emu_port}/chat/api/state")):
        print("server or emulator did not start; see the messages above", file=sys.stderr)
        return 1
    subprocess.run([py, "-m", "flask", "--app", "server", "create-menu"], cwd=APP_ROOT, env=env, check=False)
    # Commands in another terminal (flask ..., emulator.say) find this emulator through it.
    _write_run_file(env["TUANJIE_WECHAT_API_BASE"], f"http://{local}:{port}")
    print(f"\n  团结打卡 is running.\n  Chat page (手机聊天页): http://{local}:{emu_port}/\n"
          f"  Dashboard (后台): {env['TUANJIE_PUBLIC_URL']}/dashboard/ — on the chat page, as 王主任, send 登录\n"
          f"  Organiser API: curl -H 'Authorization: Bearer demo-api-token' http://{local}:{port}/api/stats\n"
          f"  Send a reminder now: .venv/bin/flask --app server push --reminder monthly_talk\n"
          f"  Ctrl-C stops everything.\n", flush=True)
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    return 1


def _stop(procs: list, already_told: bool) -> None:
    if already_told:
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


if __name__ == "__main__":
    sys.exit(main())
