"""Two web machines: two app servers (gunicorn, as deployed) with configs of their own, on one
PostgreSQL, one Redis (the token store) and one object store (moto's S3 server). What one receives
the other shows and exports; neither keeps an evidence file on its own disk."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from config import APP_ROOT, DEMO_AES_KEY
from emulator import inbound
from tests.conftest import APP_ID, ROSTER, TOKEN, World, reset_schema, start_emulator, write_config
from tests.dashboard_world import Dashboard
from tests.objectstore import stop_process
from tests.reliability.conftest import flask, free_port, wait_until
from tests.test_media import jpeg, upload

REDIS_URL = "redis://127.0.0.1:6379/11"


@dataclass
class Machine:
    world: World  # its webhook, over HTTP
    env: dict  # its config, for the flask commands run "on" it
    media_dir: Path
    proc: subprocess.Popen

    def run(self, *args: str) -> str:
        return flask(self.env, *args)

    def stop(self) -> None:
        stop_process(self.proc)


def machine(folder: Path, db_url: str, api_base: str, storage: str, init: bool = False) -> Machine:
    folder.mkdir()
    config = write_config(folder, db_url, api_base=api_base, storage=storage,
                          push=f'token_store = "redis"\nredis_url = "{REDIS_URL}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUANJIE_")} | {"TUANJIE_CONFIG": str(config)}
    if init:  # before any server: /healthz is 503 until the schema is there (its backlogs read it)
        flask(env, "init-db")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}",
                             "--graceful-timeout", "5", "server:create_app()"], cwd=APP_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(folder / "gunicorn.log", "wb"))
    world = World(f"http://127.0.0.1:{port}", inbound.Signer(TOKEN, DEMO_AES_KEY, APP_ID, "safe"), folder, None)
    m = Machine(world, env, folder / "data" / "media", proc)
    try:
        wait_until(lambda: _healthy(world.base), 60, f"the server in {folder.name} answering")
    except AssertionError:
        m.stop()
        raise
    return m


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def redis_or_skip():
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379")
        pytest.skip("no Redis here")
    for key in client.scan_iter(f"*{APP_ID}*", count=100):
        client.delete(key)


def bind_on(m: Machine, phone: str, openid: str) -> None:
    out = m.world.tmp / f"codes-{phone}.csv"
    m.run("bind-codes", "--out", str(out), "--rebind", "--force")
    import csv

    code = {r["phone"]: r["code"] for r in csv.DictReader(out.open(encoding="utf-8-sig"))}[phone]
    assert m.world.say(openid, f"绑定 {code}").startswith("绑定成功")


@pytest.fixture
def two_machines(db_url, moto, tmp_path):
    redis_or_skip()
    emu, emu_server = start_emulator("http://127.0.0.1:9/wechat")
    storage = moto.storage_toml(moto.new_bucket())
    reset_schema(db_url)
    machines = []
    try:
        for name in ("a", "b"):
            machines.append(machine(tmp_path / name, db_url, emu.base, storage, init=name == "a"))
        a, b = machines
        (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
        b.run("import-staff", str(tmp_path / "roster.csv"))
        bind_on(a, "13900000002", "o-bob")
        bind_on(b, "13900000001", "o-alice")
        emu.call("POST", "/_emu/users", json={"openid": "o-bob"})
        yield a, b, emu
    finally:
        for m in machines:
            m.stop()
        emu_server.shutdown()


def photo(m: Machine, item: str, media_id: str) -> None:
    """Bob checks in on `m` and sends the photo there; `m`'s media job fetches it."""
    m.world.say("o-bob", item)
    assert "凭证" in m.world.send(inbound.image("o-bob", media_id))
    assert "media: 1" in m.run("run-job", "media")


def kept_files(m: Machine) -> list[Path]:
    return [p for p in m.media_dir.rglob("*") if p.is_file()] if m.media_dir.exists() else []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_photo_received_by_one_machine_is_shown_and_exported_by_the_other(two_machines, tmp_path):
    a, b, emu = two_machines
    red, blue = jpeg(), jpeg(colour=(0, 90, 200))
    uploaded = [upload(emu, "image", red), upload(emu, "image", blue)]
    emu.call("DELETE", "/_emu/calls")  # the uploads' own token, not the machines'
    photo(a, "1", uploaded[0])  # A receives it; A's media job fetches it into the bucket
    photo(b, "2", uploaded[1])  # and the other way round

    for viewer, files in ((b, {red, blue}), (a, {red, blue})):
        dash = Dashboard(viewer.world, emu)
        organiser = dash.as_person("o-alice")
        gallery = dash.get(organiser, "/dashboard/gallery").text
        pieces = sorted(set(re.findall(r"/dashboard/media/(\d+)/thumb", gallery)))
        assert len(pieces) == 2, gallery[:2000]
        shown = {dash.get(organiser, f"/dashboard/media/{p}/file").content for p in pieces}
        assert shown == files
        from PIL import Image

        thumb = dash.get(organiser, f"/dashboard/media/{pieces[0]}/thumb")
        assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).format == "JPEG"

    out = tmp_path / "archive.zip"
    printed = b.run("export-archive", "--out", str(out))  # against B's config
    assert "2 pieces" in printed, printed
    with zipfile.ZipFile(out) as zf:
        photos = {zf.read(n) for n in zf.namelist() if n.endswith(".jpg")}
    assert photos == {red, blue}
    assert kept_files(a) == [] and kept_files(b) == []  # every file is in the bucket, none on a machine
    # One access token for both machines' media jobs: the token store is shared (Redis).
    fetched = emu.call("GET", "/_emu/calls", params={"endpoint": "stable_token"}).json()["calls"]
    assert len(fetched) == 1, fetched
