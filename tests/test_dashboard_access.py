"""Who may open what on the dashboard, over HTTP: each role against every route, forms without
their CSRF token, the headers every page carries, and names that look like HTML."""
from __future__ import annotations

import pytest

from models import Evidence, db
from tests.dashboard_world import LEADER, ORGANISER, OTHER_STAFF, STAFF, dash, department_id, open_dashboard  # noqa: F401
from tests.test_media import fetch, jpeg, upload
from emulator import inbound

ROLES = ("anonymous", "staff", "other_staff", "leader", "organiser", "admin")
LOGIN = "login"  # a redirect to the login page

# route -> expected answer per role, in ROLES order. A leader is of 组织科; the staff member, the
# organiser and the photo are of 办公室. 302 to the page's own place after a form; 200 a page.
MATRIX = {
    ("GET", "/dashboard/"): (LOGIN, 403, 403, 200, 200, 200),
    ("GET", "/dashboard/pending?department={office}"): (LOGIN, 403, 403, 403, 200, 403),
    ("GET", "/dashboard/pending?department={org}"): (LOGIN, 403, 403, 200, 200, 403),
    ("POST", "/dashboard/urge?department={office}"): (LOGIN, 403, 403, 403, 302, 403),
    ("POST", "/dashboard/urge?department={org}"): (LOGIN, 403, 403, 302, 302, 403),
    ("GET", "/dashboard/me"): (LOGIN, 200, 200, 200, 200, 403),
    ("GET", "/dashboard/gallery"): (LOGIN, 403, 403, 200, 200, 403),
    ("GET", "/dashboard/gallery?department={office}"): (LOGIN, 403, 403, 403, 200, 403),
    ("GET", "/dashboard/gallery?department={org}"): (LOGIN, 403, 403, 200, 200, 403),
    ("GET", "/dashboard/gallery?department=%C2%B2"): (LOGIN, 403, 403, 400, 400, 403),  # "²": isdigit, no int
    ("GET", "/dashboard/gallery?department=999999"): (LOGIN, 403, 403, 403, 404, 403),
    ("GET", "/dashboard/pending?department="): (LOGIN, 403, 403, 200, 302, 403),  # a leader's own; choose one
    ("GET", "/dashboard/media/{photo}/file"): (404, 200, 403, 403, 200, 403),
    ("GET", "/dashboard/media/{photo}/thumb"): (404, 200, 403, 403, 200, 403),
    ("GET", "/dashboard/notices"): (LOGIN, 403, 403, 403, 200, 403),
    ("POST", "/dashboard/notices"): (LOGIN, 403, 403, 403, 302, 403),
    ("GET", "/dashboard/notices/{notice}"): (LOGIN, 403, 403, 403, 200, 403),
    ("GET", "/dashboard/notice/{notice}/{bob}?s=wrong"): (404, 404, 404, 404, 404, 404),
    ("GET", "/dashboard/roster"): (LOGIN, 403, 403, 403, 200, 200),
    ("POST", "/dashboard/roster/upload"): (LOGIN, 403, 403, 403, 400, 400),
    ("POST", "/dashboard/roster/sync"): (LOGIN, 403, 403, 403, 400, 400),
    ("POST", "/dashboard/roster/status"): (LOGIN, 403, 403, 403, 200, 200),
    ("POST", "/dashboard/roster/codes"): (LOGIN, 403, 403, 403, 200, 200),
    ("GET", "/dashboard/assessment"): (LOGIN, 403, 403, 200, 200, 403),
    ("GET", "/dashboard/assessment?department={office}"): (LOGIN, 403, 403, 403, 200, 403),
    ("GET", "/dashboard/assessment?year=%C2%B2"): (LOGIN, 403, 403, 400, 400, 403),
    ("POST", "/dashboard/assessment?department={office}"): (LOGIN, 403, 403, 403, 302, 403),
    ("POST", "/dashboard/assessment/reverse"): (LOGIN, 403, 403, 403, 400, 403),
    ("POST", "/dashboard/assessment/apply"): (LOGIN, 403, 403, 403, 302, 403),
    ("GET", "/dashboard/export/workbook"): (LOGIN, 403, 403, 200, 200, 403),
    ("GET", "/dashboard/export/workbook?department={office}"): (LOGIN, 403, 403, 403, 200, 403),
    ("GET", "/dashboard/export/assessment?department={org}"): (LOGIN, 403, 403, 200, 200, 403),
    ("GET", "/dashboard/export/report"): (LOGIN, 403, 403, 200, 200, 403),
    ("POST", "/dashboard/assessment/freeze"): (LOGIN, 403, 403, 403, 302, 403),
    ("GET", "/dashboard/login"): (200, 302, 302, 302, 302, 302),
    ("POST", "/dashboard/login"): (401, 401, 401, 401, 401, 401),
    ("GET", "/dashboard/login/qr"): (200, 200, 200, 200, 200, 200),
    ("GET", "/dashboard/login/not-a-link"): (410, 410, 410, 410, 410, 410),
    ("POST", "/dashboard/logout"): (302, 302, 302, 302, 302, 302),
}
FORMS = {
    "/dashboard/urge": {"checklist": "wuge"},
    "/dashboard/notices": {"title": "周五学习", "body": "周五下午三点学习。", "to": "all"},
    "/dashboard/roster/status": {"phone": "13900000021", "status": "active"},
    "/dashboard/roster/codes": {"department": "宣传科"},
    "/dashboard/roster/sync": {"file": "nothing-uploaded.csv"},
    "/dashboard/assessment": {"points": "2", "reason": "获州局通报表扬"},
    "/dashboard/assessment/reverse": {"entry": "999999", "reason": "核实有误"},
    "/dashboard/assessment/freeze": {"confirm": "yes"},
}


def _sessions(dash) -> dict:
    import requests

    assert dash.create_admin().exit_code == 0
    return {"anonymous": requests.Session(), "staff": dash.as_person(STAFF[1]),
            "other_staff": dash.as_person(OTHER_STAFF[1]), "leader": dash.as_person(LEADER[1]),
            "organiser": dash.as_person(ORGANISER[1]), "admin": dash.as_admin()}


def _photo(dash) -> int:
    """Bob's photo for his first item, fetched into the archive by the media job."""
    dash.world.say(STAFF[1], "1")
    dash.world.send(inbound.image(STAFF[1], upload(dash.emu, "image", jpeg())))
    assert "media: 1" in fetch(dash.world)
    with db.connection_context():
        return Evidence.get().id


def _notice(dash) -> int:
    from campaign import notices

    with db.connection_context():
        return notices.create("旧通知", "正文", None, "user:1", dash.world.app.extensions["tuanjie"].clock()).id


def _answer(dash, s, method: str, path: str, role: str):
    if method == "GET":
        return dash.get(s, path)
    route = path.split("?")[0]
    query = dict(p.split("=") for p in path.split("?")[1].split("&")) if "?" in path else {}
    if route == "/dashboard/login":  # a wrong password (each role its own account: no lockout here)
        query = {"username": f"nobody-{role}", "password": "wrong"}
    return dash.post(s, route, {**FORMS.get(route, {}), **query})


def _status(r) -> object:
    """LOGIN for a redirect to the login page from a page that needs one."""
    if r.status_code == 302 and "/dashboard/login" in r.headers["Location"] and \
            not r.request.path_url.startswith(("/dashboard/login", "/dashboard/logout")):
        return LOGIN
    return r.status_code


@pytest.mark.parametrize("db_url", ["sqlite", "postgres", "mysql"], indirect=True)
def test_each_role_opens_exactly_the_routes_its_role_and_department_allow(dash):
    ids = {"office": department_id("办公室"), "org": department_id("组织科"), "photo": _photo(dash),
           "notice": _notice(dash), "bob": 2}
    sessions = _sessions(dash)
    got, want = {}, {}
    for (method, template), expected in MATRIX.items():
        path = template.format(**ids)
        for role, status in zip(ROLES, expected):
            if (method, template) == ("POST", "/dashboard/logout"):
                continue  # last, below: it ends the sessions
            got[(method, template, role)] = _status(_answer(dash, sessions[role], method, path, role))
            want[(method, template, role)] = status
    assert {k: v for k, v in got.items() if v != want[k]} == {}
    for role in ROLES:
        assert _status(_answer(dash, sessions[role], "POST", "/dashboard/logout", role)) == 302


def test_the_matrix_names_every_route_the_dashboard_has(dash):
    rules = {(method, rule.rule) for rule in dash.world.app.url_map.iter_rules()
             if rule.rule.startswith("/dashboard") and not rule.rule.startswith("/dashboard/static")
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    named = {(method, path.split("?")[0]) for method, path in MATRIX}
    normalised = {(m, r.replace("<int:piece_id>", "{photo}").replace("<any(thumb, file, audio):what>", "file")
                   .replace("<int:notice_id>", "{notice}").replace("<int:staff_id>", "{bob}")
                   .replace("<secret>", "not-a-link")
                   .replace("<any(workbook, assessment, report):kind>", "workbook")) for m, r in rules}
    assert normalised - named == set()


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(dash):
    from models import Occurrence

    organiser = dash.as_person(ORGANISER[1])
    office = department_id("办公室")
    bare = dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "wuge"}, token=False)
    forged = dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "wuge",
                                                      "csrf_token": "forged"}, token=False)
    other = dash.as_person(LEADER[1])
    borrowed = dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "wuge",
                                                        "csrf_token": dash.csrf(other)}, token=False)
    assert [bare.status_code, forged.status_code, borrowed.status_code] == [400, 400, 400]
    with db.connection_context():
        assert Occurrence.select().count() == 0
    assert dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "wuge"}).status_code == 302


def test_the_webhook_and_the_bearer_api_need_no_csrf_token(dash):
    assert dash.world.say(STAFF[1], "进度")
    assert dash.world.stats()["checklist"]


def test_every_page_forbids_inline_script_framing_and_referrers(dash):
    organiser = dash.as_person(ORGANISER[1])
    for path in ("/dashboard/", "/dashboard/login", "/dashboard/notices", "/dashboard/roster"):
        r = dash.get(organiser, path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert (r.headers["X-Frame-Options"], r.headers["Referrer-Policy"]) == ("DENY", "no-referrer")
        assert r.headers["Cache-Control"] == "no-store"
        assert "<script>" not in r.text and " on" + "click=" not in r.text


def test_a_name_written_as_html_is_shown_as_text(open_dashboard):
    from tests.conftest import ROSTER

    roster = ROSTER + '<script>alert(1)</script>,办公室,13900000004,staff,\n"x"" onmouseover=""y",组织科,13900000013,staff,\n'
    dash = open_dashboard(roster=roster)
    organiser = dash.as_person(ORGANISER[1])
    pages = [dash.get(organiser, f"/dashboard/pending?department={department_id(d)}").text for d in ("办公室", "组织科")]
    pages.append(dash.get(organiser, f"/dashboard/roster?department={department_id('办公室')}").text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "x&#34; onmouseover=&#34;y" in pages[1]
    for page in pages:
        assert "<script>alert" not in page and '" onmouseover="' not in page


@pytest.mark.parametrize("path", [
    "/dashboard/media/../../config.toml", "/dashboard/media/%2e%2e/%2e%2e/config.toml",
    "/dashboard/media/{photo}/..%2f..%2fconfig.toml", "/dashboard/media/{photo}/file/../../../config.toml",
    "/dashboard/media/{photo}%2f..%2f..%2fconfig.toml/file", "/dashboard/media/-1/file",
    "/dashboard/media/{photo}/file?path=/etc/passwd&sha256=../../config.toml", "/dashboard/static/../../config.toml",
    "/dashboard/static/..%2f..%2fconfig.toml", "/dashboard/media/{photo}.jpg/file",
])
def test_media_routes_serve_nothing_but_the_piece_they_name(dash, path):
    photo = _photo(dash)
    organiser = dash.as_person(ORGANISER[1])
    r = dash.get(organiser, path.format(photo=photo))
    assert "app_secret" not in r.text and "root:" not in r.text
    if "?path=" in path:  # query arguments are ignored: it is the photo itself
        assert r.content == jpeg()
    else:
        assert r.status_code == 404
