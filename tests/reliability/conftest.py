"""The reliability suite's world: the app as README deploys it (gunicorn, two sync workers) with
a roster of bound people, and a PostgreSQL of its own that a test may stop and start again.
Everything is on 127.0.0.1; every wait is bounded."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from config import APP_ROOT
from emulator import inbound
from tests.conftest import APP_ID, TOKEN, write_config

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} within {seconds} s")


def flask(env: dict, *args: str, timeout: float = 120) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "server", *args], cwd=APP_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@dataclass
class Deployment:
    base: str
    env: dict
    proc: subprocess.Popen
    signer: inbound.Signer
    openids: list[str]
    env_db_url: str

    def workers(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)


def deploy(tmp: Path, db_url: str, people: int = 200, workers: int = 2, ready_dir: Path | None = None) -> Deployment:
    """init-db, a roster of `people` bound as o-<n>, and gunicorn serving it. With `ready_dir`,
    each worker leaves a file named by its pid there once it has loaded the app and serves."""
    config = write_config(tmp, db_url)
    env = {**os.environ, "TUANJIE_CONFIG": str(config)}
    for key in [k for k in env if k.startswith("TUANJIE_") and k != "TUANJIE_CONFIG"]:
        del env[key]
    flask(env, "init-db")
    roster = tmp / "roster.csv"
    roster.write_text("姓名,部门,手机号\n" + "".join(f"人{i},部门{i % 10},1370000{i:04d}\n" for i in range(people)),
                      encoding="utf-8")
    flask(env, "import-staff", str(roster))
    bind_all(env, db_url)
    port = free_port()
    hooks = []
    if ready_dir is not None:
        ready_dir.mkdir(exist_ok=True)
        (tmp / "gunicorn_ready.py").write_text(
            "import os\n\ndef post_worker_init(worker):\n"
            f"    open(os.path.join({str(ready_dir)!r}, str(worker.pid)), 'w').close()\n", encoding="utf-8")
        hooks = ["-c", str(tmp / "gunicorn_ready.py")]
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", *hooks, "-w", str(workers), "-k", "sync", "-b",
                             f"127.0.0.1:{port}", "--graceful-timeout", "5", "server:create_app()"], cwd=APP_ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "gunicorn.log", "wb"),
                            start_new_session=True)
    d = Deployment(f"http://127.0.0.1:{port}", env, proc, inbound.Signer(TOKEN, AES_KEY, APP_ID, "safe"),
                   [f"o-1370000{i:04d}" for i in range(people)], db_url)
    try:
        wait_until(lambda: d.healthy() and len(d.workers()) == workers, 60, "gunicorn answering")
    except AssertionError:
        d.stop()
        raise
    return d


def bind_all(env: dict, db_url: str) -> None:
    """Bound directly (binding has tests of its own): openid o-<phone>."""
    code = ("from storage.engine import init_database; from models import db; init_database(%r); "
            "db.connect(); db.execute_sql(\"UPDATE staff SET openid = 'o-' || phone\"); db.close()" % db_url)
    done = subprocess.run([sys.executable, "-c", code], cwd=APP_ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def deployment(tmp_path):
    d = deploy(tmp_path, f"sqlite:///{tmp_path / 'tuanjie.db'}")
    yield d
    d.stop()


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own on a free port, that it can stop and start."""

    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found or not shutil.which("runuser") or os.geteuid() != 0:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL's initdb (and root, to run it as postgres) are needed here")
            pytest.skip("no PostgreSQL binaries to start a private cluster")
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="tuanjie-pg-"))
        self.port = free_port()
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool: str, *args: str) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / tool), *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr + done.stdout

    def start(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.dir / "data"), "-w", "-t", "60", "-l", str(self.dir / "log"),
                          "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.dir / "data"), "-w", "-t", "60", "-m", "fast", "stop")

    def remove(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres():
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.remove()
