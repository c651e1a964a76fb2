"""A dashboard to test: the world's server with the emulator as its platform, the roster's people
bound, and a logged-in HTTP session per role, each got the way a user gets one."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
import requests

from tests.conftest import bind, start_emulator

ORGANISER, STAFF, LEADER, OTHER_STAFF = ("13900000001", "o-alice"), ("13900000002", "o-bob"), \
    ("13900000011", "o-dave"), ("13900000012", "o-erin")
ADMIN_PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r"/dashboard/login/[A-Za-z0-9_-]+")


@dataclass
class Dashboard:
    world: object
    emu: object
    sessions: dict[str, requests.Session] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.world.base

    def link_from_bot(self, openid: str) -> str:
        """The path of the one-time link the bot answers 登录 with."""
        reply = self.world.say(openid, "登录")
        found = _LINK.search(reply or "")
        assert found, reply
        return found.group(0)

    def open_link(self, path: str) -> requests.Session:
        s = requests.Session()
        r = s.get(self.base + path, allow_redirects=False, timeout=10)
        assert r.status_code == 302, (r.status_code, r.text[:300])
        return s

    def as_person(self, openid: str) -> requests.Session:
        return self.open_link(self.link_from_bot(openid))

    def as_admin(self, username: str = "root", password: str = ADMIN_PASSWORD) -> requests.Session:
        s = requests.Session()
        r = self.post(s, "/dashboard/login", {"username": username, "password": password})
        assert r.status_code == 302, (r.status_code, r.text[:300])
        return s

    def create_admin(self, username: str = "root", password: str = ADMIN_PASSWORD, *extra: str):
        return self.world.app.test_cli_runner().invoke(
            args=["create-user", username, "--password-stdin", *extra], input=password + "\n")

    def csrf(self, s: requests.Session) -> str:
        """The CSRF token of the session's forms (the login page, or the home page it leads to)."""
        r = s.get(self.base + "/dashboard/login", timeout=10)
        found = _CSRF.search(r.text)
        assert found, r.text[:500]
        return found.group(1)

    def get(self, s: requests.Session, path: str, **kw) -> requests.Response:
        return s.get(self.base + path, allow_redirects=False, timeout=10, **kw)

    def post(self, s: requests.Session, path: str, data: dict | None = None, token: bool = True,
             **kw) -> requests.Response:
        data = dict(data or {})
        if token:
            data["csrf_token"] = self.csrf(s)
        return s.post(self.base + path, data=data, allow_redirects=False, timeout=10, **kw)


def department_id(name: str) -> int:
    from models import Department, db

    with db.connection_context():
        return Department.get(Department.name == name).id


@pytest.fixture
def open_dashboard(make_world):
    """open_dashboard(emu_users=chat page users, **world settings): Alice (organiser, 办公室), Bob (staff, 办公室), Dave
    (leader, 组织科) and Erin (staff, 组织科), bound; the emulator is the platform."""
    servers = []

    def factory(emu_users=None, **kw) -> Dashboard:
        emu, server = start_emulator("http://127.0.0.1:9/wechat", **({"users": emu_users} if emu_users else {}))
        servers.append(server)
        world = make_world(api_base=emu.base, **kw)
        emu.emulator.delivery.webhook_url = f"{world.base}/wechat"  # scans and clicks reach this server
        for phone, openid in (ORGANISER, STAFF, LEADER, OTHER_STAFF):
            bind(world, phone, openid)
            emu.call("POST", "/_emu/users", json={"openid": openid})
        return Dashboard(world, emu)

    yield factory
    for server in servers:
        server.shutdown()


@pytest.fixture
def dash(open_dashboard) -> Dashboard:
    return open_dashboard()
