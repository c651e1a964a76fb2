"""README's deployment holds against slow clients: two clients dripping their requests through
nginx (with docs/nginx/tuanjie.conf) do not delay a normal request by more than 100 ms, while
straight at gunicorn's two sync workers they hold both and the normal request waits."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from config import APP_ROOT
from tests.conftest import write_config

SITE = APP_ROOT / "docs" / "nginx" / "tuanjie.conf"
DRIP_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_for_test(app_port: int, port: int) -> str:
    """The documented site, on loopback, without TLS (what follows its "tests stop here" line
    needs a public host)."""
    text = SITE.read_text(encoding="utf-8").split("# --- tests stop here")[0]
    lines = []
    for line in text.splitlines():
        if "# tests: listen" in line:
            line = f"    listen 127.0.0.1:{port};"
        elif "# tests: ssl" in line:
            continue
        lines.append(line.replace("127.0.0.1:8000", f"127.0.0.1:{app_port}"))
    return "\n".join(lines)


def wait_ready(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args[0]} exited with {proc.returncode}"
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready within {seconds} s")


@pytest.fixture
def deployment(tmp_path):
    if not shutil.which("nginx"):
        pytest.skip("nginx is not installed here (.ci/run installs it)")
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'tuanjie.db'}")
    env = {**os.environ, "TUANJIE_CONFIG": str(config)}
    subprocess.run([sys.executable, "-m", "flask", "--app", "server", "init-db"], cwd=APP_ROOT, env=env, check=True,
                   capture_output=True, timeout=60)
    app_port, port = free_port(), free_port()
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-k", "sync", "-b",
                                 f"127.0.0.1:{app_port}", "server:create_app()"], cwd=APP_ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    (tmp_path / "site.conf").write_text(site_for_test(app_port, port), encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""", encoding="utf-8")
    nginx = subprocess.Popen(["nginx", "-c", str(tmp_path / "nginx.conf")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{app_port}/healthz", gunicorn)
        wait_ready(f"http://127.0.0.1:{port}/healthz", nginx)
        yield app_port, port
    finally:
        for proc in (nginx, gunicorn):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)


def drip(port: int, started: threading.Event) -> None:
    """A POST whose 30-byte body arrives a byte every DRIP_SECONDS/30 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /wechat?timestamp=1&nonce=n HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n")
        started.set()
        for _ in range(30):
            s.sendall(b"x")
            time.sleep(DRIP_SECONDS / 30)  # the slowness under test, not a synchronisation
        s.settimeout(30)
        s.recv(1024)


def normal_request_time(port: int) -> float:
    slow = [threading.Event(), threading.Event()]
    threads = [threading.Thread(target=drip, args=(port, e), daemon=True) for e in slow]
    for t in threads:
        t.start()
    for e in slow:
        assert e.wait(10)
    # Both slow connections are queued before this one: whoever accepts takes them first.
    began = time.monotonic()
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
    took = time.monotonic() - began
    for t in threads:
        t.join(timeout=30)
    return took


def test_two_slow_clients_through_nginx_do_not_delay_a_normal_request(deployment):
    app_port, port = deployment
    assert normal_request_time(port) < 0.1
    # Without nginx the same two clients hold both sync workers: the request waits for them.
    assert normal_request_time(app_port) > 1.0
