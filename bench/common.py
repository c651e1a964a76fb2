"""What the bench scripts share: set-up errors, a config.toml writer, a gunicorn started in its
own process group (and ended with everything in it), and readers of /proc for CPU and memory.

The scripts run as `python bench/X.py`: each puts the repository root on sys.path first, then
imports this module as `bench.common` (which is also how gunicorn, started with --chdir at the
root, finds `bench.fanout:emulator_app()` and `bench.floor_app`).
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
SHIPPED_PLAN = REPO / "plans" / "minzu_tuanjie.toml"  # the plan the repository ships (config's default)


class SetupError(Exception):
    """The environment could not be prepared; the message says what failed."""


# --------------------------------------------------------------------------- set-up

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict:
    """This process's environment for a child, plus `extra`.

    TUANJIE_* variables in the caller's shell (a database URL above all) would override the temp
    config and point the benchmark at a real database, and BENCH_* ones are the benchmarks' own
    switches to their children: both are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUANJIE_", "BENCH_"))}
    env.update(extra)
    return env


def write_config(path: Path, *, app_id: str, app_secret: str, token: str, db_file: Path | None, api_base: str,
                 api_token: str, more: str = "", db_url: str | None = None) -> Path:
    """A safe-mode config.toml like tests/conftest.py's write_config: [wechat], [database] (an
    SQLite file, or db_url), [api], then `more` (further TOML tables, as text)."""
    from config import DEMO_AES_KEY

    path.write_text(f"""
[wechat]
app_id = "{app_id}"
app_secret = "{app_secret}"
token = "{token}"
encoding_aes_key = "{DEMO_AES_KEY}"
encrypt_mode = "safe"
api_base = "{api_base}"

[database]
url = "{db_url or f'sqlite:///{db_file}'}"

[api]
token = "{api_token}"
{more}""", encoding="utf-8")
    return path


@contextmanager
def temp_dir(prefix: str, keep: bool) -> Iterator[Path]:
    """A temp dir for one benchmark: removed at the end, or kept (and named) with --keep."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- processes

def end_group(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """End a child started with start_new_session=True, and everything in its process group."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Service:
    """A server process on a free port of 127.0.0.1 (`argv(port)`), in its own process group (so
    that all of it can be ended), with `chdir` as its working directory, its output in `log`."""

    def __init__(self, name: str, argv: Callable[[int], list[str]], env: dict, log: Path, chdir: Path = REPO,
                 stop_grace: float = 5.0):
        self.name, self.port, self.log, self.stop_grace = name, free_port(), log, stop_grace
        self._logfile = log.open("wb")
        self.proc = subprocess.Popen(argv(self.port), cwd=chdir, env=env, stdout=self._logfile,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, ready: Callable[[], T], what: str, timeout: float = 30.0) -> T:
        """Call ready() every 0.1 s until it returns something true, and return that; ready()
        raising OSError, ValueError or SetupError counts as not yet. SetupError (`what`, the log's
        tail) when gunicorn exits or `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SetupError(f"{self.name}: gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                got = ready()
                if got:
                    return got
            except (OSError, ValueError, SetupError):
                pass
            time.sleep(0.1)
        raise SetupError(f"{self.name}: {what} within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._logfile.flush()
        return log_tail(self.log, lines)

    def stop(self) -> None:
        end_group(self.proc, self.stop_grace)
        self._logfile.close()


class Gunicorn(Service):
    """`python -m gunicorn OPTIONS APP_SPEC`, with `chdir` as its first import path too."""

    def __init__(self, name: str, app_spec: str, options: list[str], env: dict, log: Path, chdir: Path = REPO,
                 stop_grace: float = 5.0):
        super().__init__(name, lambda port: [sys.executable, "-m", "gunicorn", *options, "-b", f"127.0.0.1:{port}",
                                             "--chdir", str(chdir), "--log-level", "warning", app_spec],
                         env, log, chdir, stop_grace)


class MotoS3(Service):
    """moto's standalone S3 server (the tests' object store; in memory, one Python process), with
    one bucket, and the [storage] lines of a config that keeps the archive there."""

    KEY, SECRET, BUCKET = "bench-access-key", "bench-secret-key", "tuanjie-bench"

    def __init__(self, log: Path):
        super().__init__("moto", lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                         clean_env(), log)
        import boto3

        self.wait_for(lambda: self._status() == 200, "moto answering")
        boto3.client("s3", endpoint_url=self.base, region_name="us-east-1", aws_access_key_id=self.KEY,
                     aws_secret_access_key=self.SECRET).create_bucket(Bucket=self.BUCKET)

    def _status(self) -> int:
        import urllib.request

        with urllib.request.urlopen(f"{self.base}/moto-api/data.json", timeout=1) as r:
            return r.status

    def storage_lines(self) -> str:
        return (f'backend = "s3"\nendpoint_url = "{self.base}"\nbucket = "{self.BUCKET}"\naddressing_style = "path"\n'
                f'access_key = "{self.KEY}"\nsecret_key = "{self.SECRET}"\n')


# --------------------------------------------------------------------------- /proc

def proc_cpu(pid: int) -> float | None:
    """utime+stime seconds of a process so far (None where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM in KiB from /proc (empty where unavailable)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def machine_cpu() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine so far, from /proc/stat; busy counts user, nice,
    system, irq, softirq and steal, idle and iowait are the rest."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def busy_share(a, b) -> float | None:
    """The share of the machine's CPU time between two machine_cpu() snapshots that was busy."""
    if not a or not b or b[1] == a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def background_load(seconds: float = 1.0) -> float | None:
    """Cores busy on the machine over `seconds` while this benchmark is idle (other workloads)."""
    a = machine_cpu()
    time.sleep(seconds)
    share = busy_share(a, machine_cpu())
    return None if share is None else share * (os.cpu_count() or 1)


def warn_if_busy(what: str) -> float | None:
    load = background_load()
    if load is not None and load > 0.15:
        print(f"  WARNING: before {what} the machine was already {load:.2f} cores busy with other processes: "
              f"figures below are depressed by that competition")
    return load


def http_json(port: int, method: str, path: str, body=None, timeout: float = 30.0) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        raw = r.read()
        if r.status != 200:
            raise SetupError(f"{method} {path}: HTTP {r.status}: {raw[:200]!r}")
        return json.loads(raw)
    finally:
        conn.close()
