"""Getting into the dashboard: the bot's one-time link, the desktop QR code scanned in WeChat,
admin passwords and their limits, and sessions that end on the server."""
from __future__ import annotations

import datetime as dt
import re

import requests

from config import load_config
from models import DashboardSession, LoginLink, db
from tests.dashboard_world import (ADMIN_PASSWORD, LEADER, ORGANISER, STAFF, dash,  # noqa: F401
                                   open_dashboard)
from tests.test_binding import Clock


def at(*args) -> Clock:
    return Clock(dt.datetime(*args, tzinfo=load_config(environ={}).tz))


def test_the_bots_link_logs_in_once_and_is_stored_only_as_a_hash(dash):
    path = dash.link_from_bot(ORGANISER[1])
    secret = path.rsplit("/", 1)[1]
    with db.connection_context():
        stored = [link.token_hash for link in LoginLink.select()]
    assert len(stored) == 1 and secret not in stored[0]
    first = dash.open_link(path)
    assert dash.get(first, "/dashboard/").status_code == 200
    again = requests.get(dash.base + path, allow_redirects=False, timeout=10)
    assert again.status_code == 410 and "重新发送「登录」" in again.text
    assert "tj_session" not in again.cookies


def test_a_link_older_than_five_minutes_opens_nothing(open_dashboard):
    clock = at(2026, 6, 2, 10, 0)
    dash = open_dashboard(clock=clock)
    stale, fresh = dash.link_from_bot(ORGANISER[1]), None
    clock.now += dt.timedelta(minutes=4, seconds=59)
    fresh = dash.link_from_bot(ORGANISER[1])
    clock.now += dt.timedelta(seconds=2)
    assert requests.get(dash.base + stale, allow_redirects=False, timeout=10).status_code == 410
    assert dash.open_link(fresh)


def test_the_session_cookie_is_httponly_lax_and_new_at_every_login(dash):
    r = requests.get(dash.base + dash.link_from_bot(ORGANISER[1]), allow_redirects=False, timeout=10)
    header = r.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/dashboard" in header
    assert "Secure" not in header  # not configured for HTTPS here
    second = requests.get(dash.base + dash.link_from_bot(ORGANISER[1]), allow_redirects=False, timeout=10)
    assert r.cookies["tj_session"] != second.cookies["tj_session"]


def test_cookies_are_secure_when_configured_for_https(open_dashboard):
    dash = open_dashboard(dashboard='secure_cookies = true\npublic_url = "https://tj.example.gov.cn"')
    reply = dash.world.say(ORGANISER[1], "登录")
    assert "https://tj.example.gov.cn/dashboard/login/" in reply
    r = requests.get(dash.base + dash.link_from_bot(ORGANISER[1]), allow_redirects=False, timeout=10)
    assert "Secure" in r.headers["Set-Cookie"]


def test_logout_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(dash):
    mine = dash.as_person(ORGANISER[1])
    copy = requests.Session()
    copy.cookies.set("tj_session", mine.cookies["tj_session"], path="/dashboard")
    assert dash.get(copy, "/dashboard/").status_code == 200
    assert dash.post(mine, "/dashboard/logout").status_code == 302
    gone = dash.get(copy, "/dashboard/")
    assert gone.status_code == 302 and "/dashboard/login" in gone.headers["Location"]


def test_a_role_or_department_change_on_the_roster_ends_the_session(dash):
    leader, organiser = dash.as_person(LEADER[1]), dash.as_person(ORGANISER[1])
    assert dash.get(leader, "/dashboard/").status_code == 200
    moved = dash.world.cli("staff", "set", LEADER[0], "--department", "宣传科")
    assert moved.exit_code == 0, moved.output
    assert dash.get(leader, "/dashboard/").status_code == 302
    left = dash.world.cli("staff", "set", ORGANISER[0], "--status", "离职")
    assert left.exit_code == 0, left.output
    assert dash.get(organiser, "/dashboard/").status_code == 302
    with db.connection_context():
        assert DashboardSession.select().where(DashboardSession.ended_at.is_null()).count() == 0


def test_a_bot_link_for_someone_unbound_or_left_is_refused(dash):
    path = dash.link_from_bot(STAFF[1])
    assert dash.world.cli("staff", "set", STAFF[0], "--status", "left").exit_code == 0
    assert requests.get(dash.base + path, allow_redirects=False, timeout=10).status_code == 410
    assert "绑定" in dash.world.say("o-stranger", "登录")


def test_scanning_the_login_pages_qr_code_logs_that_browser_in(dash):
    desktop = requests.Session()
    page = desktop.get(dash.base + "/dashboard/login", timeout=10)
    url = re.search(r'data-url="([^"]+)"', page.text).group(1)
    assert "<svg" in page.text and desktop.get(dash.base + "/dashboard/login/qr", timeout=10).json() == {
        "status": "waiting"}
    scanned = dash.emu.call("POST", "/chat/api/scan", json={"openid": ORGANISER[1], "url": url})
    assert "已确认登录" in str(scanned.json())
    answer = desktop.get(dash.base + "/dashboard/login/qr", timeout=10).json()
    assert answer == {"status": "confirmed", "next": "/dashboard/"}
    assert dash.get(desktop, "/dashboard/").status_code == 200
    # The code is spent: another browser that copied its session cookie gets nothing more.
    assert desktop.get(dash.base + "/dashboard/login/qr", timeout=10).json()["status"] == "expired"


def test_a_login_qr_scanned_by_an_unbound_user_logs_nobody_in(dash):
    desktop = requests.Session()
    url = re.search(r'data-url="([^"]+)"', desktop.get(dash.base + "/dashboard/login", timeout=10).text).group(1)
    dash.emu.call("POST", "/_emu/users", json={"openid": "o-stranger"})
    scanned = dash.emu.call("POST", "/chat/api/scan", json={"openid": "o-stranger", "url": url})
    assert "绑定" in str(scanned.json())
    assert desktop.get(dash.base + "/dashboard/login/qr", timeout=10).json() == {"status": "waiting"}


def test_without_scene_qr_codes_the_login_page_offers_the_bots_link_only(make_world):
    world = make_world()  # the real platform's address, no scene_qr: no QR code is asked for
    page = requests.get(world.base + "/dashboard/login", timeout=10)
    assert page.status_code == 200 and "<svg" not in page.text and "发送「登录」" in page.text


def test_create_user_hashes_with_scrypt_and_refuses_weak_or_duplicate_accounts(dash):
    from models import DashboardUser

    assert dash.create_admin("root", "short").exit_code != 0
    created = dash.create_admin()
    assert created.exit_code == 0, created.output
    again = dash.create_admin()
    assert again.exit_code != 0 and "--reset" in again.output
    with db.connection_context():
        stored = DashboardUser.get().password_hash
    assert stored.startswith("scrypt:") and ADMIN_PASSWORD not in stored
    assert dash.get(dash.as_admin(), "/dashboard/").status_code == 200


def test_a_password_reset_ends_the_accounts_sessions(dash):
    assert dash.create_admin().exit_code == 0
    before = dash.as_admin()
    assert dash.create_admin("root", "another long password", "--reset").exit_code == 0
    assert dash.get(before, "/dashboard/").status_code == 302
    assert dash.as_admin(password="another long password")


def _wrong(dash, username: str, address_session=None):
    s = address_session or requests.Session()
    return dash.post(s, "/dashboard/login", {"username": username, "password": "not it"})


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(dash):
    assert dash.create_admin().exit_code == 0
    assert [_wrong(dash, "root").status_code for _ in range(5)] == [401] * 5
    s = requests.Session()
    locked = dash.post(s, "/dashboard/login", {"username": "root", "password": ADMIN_PASSWORD})
    assert locked.status_code == 429 and "该账号登录失败次数过多" in locked.text


def test_the_limit_holds_across_workers_and_lifts_after_its_window(open_dashboard):
    from server import create_app
    from tests.conftest import Server, write_config

    clock = at(2026, 6, 2, 10, 0)
    dash = open_dashboard(clock=clock)
    assert dash.create_admin().exit_code == 0
    cfg = load_config(write_config(dash.world.tmp, dash.world.app.extensions["tuanjie"].config.database.url,
                                   name="second.toml", api_base=dash.emu.base), environ={})
    second = Server(create_app(cfg, clock=clock))
    try:
        for _ in range(5):
            _wrong(dash, "root")
        other = requests.Session()
        token = dash.csrf(other)
        r = other.post(f"http://127.0.0.1:{second.server_port}/dashboard/login", allow_redirects=False, timeout=10,
                       data={"username": "root", "password": ADMIN_PASSWORD, "csrf_token": token})
    finally:
        second.shutdown()
    assert r.status_code == 429  # the failures were counted by the first worker
    clock.now += dt.timedelta(minutes=16)
    assert dash.as_admin()


def test_twenty_failures_from_one_address_lock_it_for_every_account(dash):
    s = requests.Session()
    assert {_wrong(dash, f"guess{n}", s).status_code for n in range(20)} == {401}
    r = _wrong(dash, "someone-else", s)
    assert r.status_code == 429 and "该地址登录失败次数过多" in r.text
