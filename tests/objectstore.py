"""An S3-compatible object store for the tests: moto's standalone server (`python -m moto.server`),
a real HTTP server on a free loopback port, started once per session; each test gets a bucket of
its own."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import requests

ACCESS_KEY, SECRET_KEY, REGION = "testing-access-key", "testing-secret-key", "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)
        self._wait_ready(30)

    def _wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"moto server exited ({self.proc.returncode}): {open(self.log.name).read()[-2000:]}")
            try:
                if requests.get(f"{self.endpoint}/moto-api/data.json", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)  # polling readiness, bounded by the deadline
        self.stop()
        raise AssertionError(f"moto server not answering on {self.endpoint} within {seconds} s")

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        name = f"tuanjie-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_toml(self, bucket: str, **more) -> str:
        """The [storage] lines of a config that keeps the archive in `bucket`."""
        lines = {"backend": "s3", "endpoint_url": self.endpoint, "bucket": bucket, "region": REGION,
                 "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "addressing_style": "path", **more}
        return "\n".join(f"{k} = {json.dumps(v)}" for k, v in lines.items())

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen, seconds: float = 20) -> None:
    """SIGTERM, and SIGKILL after `seconds` without an exit."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=seconds)
