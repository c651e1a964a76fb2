"""SIGKILL a web worker again and again while check-ins stream in: gunicorn starts another,
WeChat's redeliveries reach it, and no check-in is lost or made twice.

A worker is killed only while both are serving (each has loaded the app): on a busy machine a
replacement can take longer to boot than WeChat's three 5-second tries, and killing the one
worker left would stop the service, which is not what this test is about.

The stream is paced by the killer: the check-ins come in MIN_KILLS + 1 slices, and slice k is not
sent before k kills. A thread that is ahead meanwhile asks for its progress (「进度」), so the
workers stay busy while they are killed. Without the pacing a quiet machine streamed all 2,000
check-ins before a replacement worker had booted four times, and "killed mid-stream" was luck."""
from __future__ import annotations

import itertools
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from models import CheckIn, InboundMessage, db
from storage.engine import init_database
from tests.reliability.conftest import deploy, wait_until
from emulator import inbound
from tests.reliability.wechat import check_in, deliver

PEOPLE, MIN_KILLS, KILLS = 400, 5, 10


@pytest.fixture
def big_deployment(tmp_path):
    d = deploy(tmp_path, f"sqlite:///{tmp_path / 'tuanjie.db'}", people=PEOPLE, ready_dir=tmp_path / "ready")
    d.ready_dir = tmp_path / "ready"
    yield d
    d.stop()


def test_workers_killed_mid_stream_lose_and_double_no_check_in(big_deployment):
    d = big_deployment
    messages = [check_in(d.openids[n // 5], n % 5 + 1, 8_000_000 + n) for n in range(PEOPLE * 5)]
    done, kills = threading.Event(), []

    def killer():
        rng = random.Random(7)

        def serving() -> list[int]:
            """Two workers, each past loading the app, neither one killed already (a killed one
            stays listed until the master reaps it): a kill then never leaves none."""
            pids = [p for p in d.workers() if p not in kills]
            return pids if len(pids) == 2 and all((d.ready_dir / str(p)).exists() for p in pids) else []

        while len(kills) < KILLS and not done.is_set():
            wait_until(serving, 60, "two serving workers again")
            if done.wait(0.25):  # a kill every quarter second of the stream, bounded by KILLS
                return
            victim = rng.choice(serving() or [None])
            if victim is None:
                continue
            os.kill(victim, signal.SIGKILL)
            kills.append(victim)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    local = threading.local()
    filler_ids, fillers = itertools.count(9_000_000), []

    def one(numbered):
        n, xml = numbered
        local.session = getattr(local, "session", None) or requests.Session()
        slice_kills = min(MIN_KILLS, n * (MIN_KILLS + 1) // len(messages))
        deadline = time.monotonic() + 120
        while len(kills) < slice_kills:  # ahead of the killer: keep the workers busy meanwhile
            assert time.monotonic() < deadline, f"{len(kills)} kills in 120 s, slice {slice_kills} waits"
            asking = inbound.text(d.openids[n // 5], "进度", msg_id=next(filler_ids))
            fillers.append(deliver(d.base, d.signer, asking, session=local.session))
        return deliver(d.base, d.signer, xml, session=local.session)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(one, enumerate(messages), timeout=300))
    finally:
        done.set()
        thread.join(timeout=60)
    assert len(kills) >= MIN_KILLS, f"only {len(kills)} workers were killed during the stream"
    assert all(status == 200 for status, _, _ in answers + fillers), \
        [a for a in answers + fillers if a[0] != 200][:5]
    assert all(reply.startswith("✅ 已记录") for _, reply, _ in answers)
    init_database(d.env_db_url)
    with db.connection_context():
        assert CheckIn.select().count() == len(messages)
        assert InboundMessage.select().count() == len(messages) + len(fillers)
