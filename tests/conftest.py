"""A small world for the tests: a config file, a real database (SQLite file, and PostgreSQL
and MariaDB/MySQL where the machine runs them), the server on a loopback port, and a WeChat platform that
signs and encrypts with wechatpy.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pymysql
import pytest
import requests
from werkzeug.serving import make_server

from config import APP_ROOT, DEMO_AES_KEY, load_config
from emulator import inbound
from models import ALL_MODELS, db

PG_URL = os.environ.get("TUANJIE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("TUANJIE_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
API_TOKEN = "test-api-token-123"
TOKEN = "testToken42"
APP_ID = "wx0000test0000app"

ROSTER = """姓名,部门,手机号,角色,状态
Alice,办公室,13900000001,organiser,
Bob,办公室,13900000002,staff,
Carol,办公室,13900000003,staff,exempt
Dave,组织科,13900000011,leader,
Erin,组织科,13900000012,staff,
Frank,宣传科,13900000021,staff,
"""


def pg_available() -> bool:
    try:
        psycopg2.connect(PG_URL, connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def mysql_available() -> bool:
    from urllib.parse import urlsplit

    u = urlsplit(MYSQL_URL)
    try:
        pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username, password=u.password or "",
                        database=u.path.lstrip("/"), connect_timeout=2).close()
        return True
    except pymysql.err.OperationalError:
        return False


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tuanjie.db'}"
    url, available, name = ((PG_URL, pg_available, "PostgreSQL") if request.param == "postgres"
                            else (MYSQL_URL, mysql_available, "MariaDB/MySQL"))
    if not available():
        if os.environ.get("CI"):
            pytest.fail(f"{name} not reachable at {url} (CI must start it)")
        pytest.skip(f"{name} not running here")
    return url


def write_config(tmp_path: Path, db_url: str, mode: str = "safe", name: str = "config.toml",
                 api_base: str = "http://127.0.0.1:9", push: str = "", aes_key: str = DEMO_AES_KEY,
                 dashboard: str = "", campaign: str = "", storage: str = "", scheduler: str = "",
                 **extra) -> Path:
    path = tmp_path / name
    plan = extra.pop("plan", str(APP_ROOT / "plans" / "minzu_tuanjie.toml"))
    path.write_text(f"""
[wechat]
app_id = "{APP_ID}"
app_secret = "test-secret"
token = "{TOKEN}"
encoding_aes_key = "{aes_key}"
encrypt_mode = "{mode}"
api_base = "{api_base}"

[database]
url = "{db_url}"

[campaign]
plan = "{plan}"
{campaign}

[api]
token = "{API_TOKEN}"

[push]
{push}

[dashboard]
{dashboard}

[storage]
{storage}

[scheduler]
{scheduler}
""", encoding="utf-8")
    return path


@dataclass
class World:
    base: str
    platform: inbound.Signer
    tmp: Path
    app: object

    def post(self, xml: str, **sign_kw) -> requests.Response:
        signed = self.platform.sign_request(xml, **sign_kw)
        return requests.post(f"{self.base}/wechat?{signed.query_string}", data=signed.body, timeout=10)

    def say(self, openid: str, content: str, **kw) -> str | None:
        r = self.post(inbound.text(openid, content, **kw))
        assert r.status_code == 200, r.text
        return self.platform.reply_text(r.text, {})

    def send(self, xml: str) -> str | None:
        r = self.post(xml)
        assert r.status_code == 200, r.text
        return self.platform.reply_text(r.text, {})

    def stats(self, **params) -> dict:
        r = requests.get(f"{self.base}/api/stats", params=params,
                         headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def cli(self, *args) -> "click.testing.Result":  # noqa: F821
        return self.app.test_cli_runner().invoke(args=list(args))


class Server:
    """A threaded WSGI server on a loopback port whose stop() waits for requests in flight,
    so a late request cannot touch the database while the next test resets it."""

    def __init__(self, app):
        self.httpd = make_server("127.0.0.1", 0, app, threaded=True)
        self.httpd.daemon_threads = False  # ThreadingMixIn joins non-daemon request threads on close
        self.server_port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def shutdown(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def reset_schema(url: str):
    from storage.engine import init_database

    init_database(url)
    with db.connection_context():
        db.drop_tables(ALL_MODELS, safe=True)


def as_before_versions() -> None:
    """Make the test's database look as init-db left it before schema versions: no version row."""
    from storage.engine import quote

    with db.connection_context():
        db.execute_sql(f"DROP TABLE {quote('schemaversion')}")


def start(tmp_path: Path, db_url: str, mode: str = "safe", roster: str | None = ROSTER, clock=None, **extra):
    from server import create_app

    reset_schema(db_url)
    cfg = load_config(write_config(tmp_path, db_url, mode, **extra), environ={})
    app = create_app(cfg, clock=clock)
    world_cli = app.test_cli_runner()
    result = world_cli.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    if roster:
        (tmp_path / "roster.csv").write_text(roster, encoding="utf-8")
        result = world_cli.invoke(args=["import-staff", str(tmp_path / "roster.csv")])
        assert result.exit_code == 0, result.output
    server = Server(app)
    platform = inbound.Signer(TOKEN, extra.get("aes_key", DEMO_AES_KEY), APP_ID,
                                "compat" if mode == "compat" else mode)
    world = World(f"http://127.0.0.1:{server.server_port}", platform, tmp_path, app)
    return world, server


@pytest.fixture
def world(tmp_path, db_url):
    w, server = start(tmp_path, db_url)
    yield w
    server.shutdown()
    if not db.is_closed():
        db.close()


def bind(world: World, phone: str, openid: str) -> None:
    """Bind through the real path: issue a code with the CLI, redeem it over the webhook."""
    out = world.tmp / f"codes-{phone}.csv"
    result = world.cli("bind-codes", "--out", str(out), "--rebind", "--force")
    assert result.exit_code == 0, result.output
    import csv

    rows = {r["phone"]: r["code"] for r in csv.DictReader(out.open(encoding="utf-8-sig"))}
    reply = world.say(openid, f"绑定 {rows[phone]}")
    assert reply.startswith("绑定成功"), reply


@pytest.fixture
def make_world(tmp_path, db_url):
    """Start a world with other settings: make_world(mode="plain", roster=..., clock=...)."""
    servers = []

    def factory(**kw):
        w, server = start(tmp_path, db_url, **kw)
        servers.append(server)
        return w

    yield factory
    for server in servers:
        server.shutdown()
    if not db.is_closed():
        db.close()


@pytest.fixture(scope="session")
def moto():
    """moto's standalone S3 server, for the whole session (each test makes its own bucket)."""
    from tests.objectstore import MotoServer

    server = MotoServer()
    yield server
    server.stop()


@dataclass
class Emu:
    base: str
    emulator: object  # emulator.app.Emulator

    def call(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 10)
        return requests.request(method, f"{self.base}{path}", **kw)

    def api(self, method: str, path: str, token: str | None = None, **kw) -> dict:
        params = kw.pop("params", {})
        if token is not None:
            params["access_token"] = token
        return self.call(method, f"/cgi-bin/{path}", params=params, **kw).json()

    def token(self) -> str:
        return self.api("POST", "stable_token", json={"grant_type": "client_credential", "appid": APP_ID,
                                                      "secret": "test-secret"})["access_token"]


def start_emulator(webhook_url: str, mode: str = "safe", **settings):
    from emulator.app import ChatUser, Settings, create_emulator

    users = settings.pop("users", (ChatUser("o-bob", "Bob", "Bob（办公室）"), ChatUser("o-guest", "访客", "访客")))
    app = create_emulator(Settings(webhook_url=webhook_url, token=TOKEN, encoding_aes_key=DEMO_AES_KEY,
                                   app_id=APP_ID, app_secret="test-secret", mode=mode, users=users, **settings))
    emulator = app.extensions["emulator"]
    server = Server(app)
    original = server.shutdown

    def shutdown():  # no delivery reports to a world that is going away
        emulator.close()
        original()

    server.shutdown = shutdown
    return Emu(f"http://127.0.0.1:{server.server_port}", emulator), server


@pytest.fixture
def emu(world):
    """The emulator, delivering to the world's server."""
    e, server = start_emulator(f"{world.base}/wechat")
    yield e
    server.shutdown()


def documented() -> list[tuple[str, tuple]]:
    """(item, (media ids or texts of its evidence, in the order received)) for every check-in,
    by item: what the archive holds for each."""
    from models import CheckIn, CheckInEvidence, Evidence

    out = []
    for c in CheckIn.select().order_by(CheckIn.item):
        pieces = (Evidence.select(Evidence).join(CheckInEvidence).where(CheckInEvidence.checkin == c.id)
                  .order_by(Evidence.received_at, Evidence.id))
        out.append((c.item, tuple(p.media_id or p.text for p in pieces)))
    return out
