"""The fake WeChat API enforces the platform's rules (docs/architecture.md), over real HTTP."""
import pytest

from tests.conftest import APP_ID, start_emulator


@pytest.fixture
def bare():
    """An emulator with no webhook behind it: for the API rules alone."""
    e, server = start_emulator("http://127.0.0.1:9/wechat")
    yield e
    server.shutdown()


def basic_token(e, secret="test-secret", appid=APP_ID):
    return e.api("GET", "token", params={"grant_type": "client_credential", "appid": appid, "secret": secret})


def stable(e, force=False, secret="test-secret"):
    return e.api("POST", "stable_token", json={"grant_type": "client_credential", "appid": APP_ID,
                                               "secret": secret, "force_refresh": force})


def advance(e, seconds):
    assert e.call("POST", "/_emu/clock", json={"advance": seconds}).status_code == 200


def user_info(e, token, openid="o-bob"):
    return e.api("GET", "user/info", token, params={"openid": openid})


def test_wrong_credentials(bare):
    assert basic_token(bare, secret="nope")["errcode"] == 40001
    assert basic_token(bare, appid="wxother")["errcode"] == 40013
    assert stable(bare, secret="nope")["errcode"] == 40125


def test_a_new_basic_token_leaves_the_old_one_five_minutes(bare):
    first = basic_token(bare)
    assert first["expires_in"] == 7200
    second = basic_token(bare)
    assert second["access_token"] != first["access_token"]
    assert user_info(bare, first["access_token"])["errcode"] == 0
    advance(bare, 301)
    assert user_info(bare, first["access_token"])["errcode"] == 42001
    assert user_info(bare, second["access_token"])["errcode"] == 0
    advance(bare, 7200)
    assert user_info(bare, second["access_token"])["errcode"] == 42001


def test_stable_token_does_not_rotate_unless_forced(bare):
    a, b = stable(bare), stable(bare)
    assert a["access_token"] == b["access_token"] and b["expires_in"] <= 7200
    forced = stable(bare, force=True)
    assert forced["access_token"] != a["access_token"]
    assert user_info(bare, a["access_token"])["errcode"] == 0  # grace period
    advance(bare, 7201)
    assert stable(bare)["access_token"] != forced["access_token"]  # expired: a new one


def test_invalid_or_missing_token(bare):
    assert user_info(bare, "made-up")["errcode"] == 40001
    assert bare.api("GET", "user/info", params={"openid": "o-bob"})["errcode"] == 41001


def test_daily_token_limit(bare):
    bare.emulator.platform.token_calls["basic"] = 1999
    assert "access_token" in basic_token(bare)
    assert basic_token(bare)["errcode"] == 45009


def test_customer_service_window_after_a_message_and_after_an_event(bare):
    def send():  # a fresh token each time: the clock jumps past its expiry below
        return bare.api("POST", "message/custom/send", bare.token(),
                        json={"touser": "o-bob", "msgtype": "text", "text": {"content": "hi"}})["errcode"]

    assert send() == 45015  # the user never wrote
    bare.call("POST", "/_emu/users", json={"openid": "o-bob", "window": "message"})
    assert [send() for _ in range(6)] == [0] * 5 + [45047]
    bare.call("POST", "/_emu/users", json={"openid": "o-bob", "window": "message"})
    advance(bare, 48 * 3600 + 1)
    assert send() == 45015
    bare.call("POST", "/_emu/users", json={"openid": "o-bob", "window": "event"})
    assert [send() for _ in range(4)] == [0, 0, 0, 45047]
    bare.call("POST", "/_emu/users", json={"openid": "o-bob", "window": "event"})
    advance(bare, 61)
    assert send() == 45015
    bare.call("POST", "/_emu/users", json={"openid": "o-bob", "window": "message", "following": False})
    assert send() == 43004


def template(bare, token, value="民族团结月", openid="o-bob", template_id="TPL_REMINDER"):
    return bare.api("POST", "message/template/send", token, json={
        "touser": openid, "template_id": template_id,
        "data": {"thing1": {"value": value}, "thing2": {"value": "共照一张全家福"}, "time3": {"value": "12月1日"}}})


def test_template_rules(bare):
    token = bare.token()
    assert template(bare, token)["errcode"] == 0 and template(bare, token)["msgid"] > 0
    too_long = template(bare, token, value="一" * 21)
    assert too_long["errcode"] == 47003 and "thing1" in too_long["errmsg"]
    assert template(bare, token, value="一" * 20)["errcode"] == 0
    assert template(bare, token, value="两行\n文字")["errcode"] == 47003
    assert template(bare, token, template_id="TPL_NOPE")["errcode"] == 40037
    bare.call("POST", "/_emu/users", json={"openid": "o-bob", "following": False})
    assert template(bare, token)["errcode"] == 43004
    assert template(bare, token, openid="o-nobody")["errcode"] == 40003


def test_subscription_notice_needs_an_opt_in_per_message(bare):
    token = bare.token()
    body = {"touser": "o-bob", "template_id": "TPL_REMINDER", "data": {"thing1": {"value": "x"}}}
    assert bare.api("POST", "message/subscribe/bizsend", token, json=body)["errcode"] == 43101
    bare.call("POST", "/_emu/users", json={"openid": "o-bob", "optin": "TPL_REMINDER"})
    assert bare.api("POST", "message/subscribe/bizsend", token, json=body)["errcode"] == 0
    assert bare.api("POST", "message/subscribe/bizsend", token, json=body)["errcode"] == 43101


def test_media_upload_get_and_three_day_expiry(bare):
    token = bare.token()
    up = bare.api("POST", "media/upload", token, params={"type": "image"},
                  files={"media": ("a.jpg", b"\xff\xd8jpegbytes", "image/jpeg")})
    assert up["type"] == "image" and up["media_id"]
    got = bare.call("GET", "/cgi-bin/media/get", params={"access_token": token, "media_id": up["media_id"]})
    assert got.content == b"\xff\xd8jpegbytes"
    assert bare.api("GET", "media/get", token, params={"media_id": "unknown"})["errcode"] == 40007
    advance(bare, 3 * 86400 + 1)
    token = bare.token()
    assert bare.api("GET", "media/get", token, params={"media_id": up["media_id"]})["errcode"] == 40007


@pytest.mark.parametrize("menu, errcode", [
    ({"button": [{"type": "click", "name": "打卡", "key": "CHECKIN"}]}, 0),
    ({"button": [{"type": "click", "name": str(i), "key": "K"} for i in range(4)]}, 40016),
    ({"button": []}, 40016),
    ({"button": [{"type": "click", "name": "六个汉字太长", "key": "K"}]}, 40018),  # 18 bytes
    ({"button": [{"type": "click", "name": "k", "key": "K" * 129}]}, 40019),
    ({"button": [{"name": "更多", "sub_button": [{"type": "click", "name": "x", "key": "K"}] * 6}]}, 40023),
])
def test_menu_limits(bare, menu, errcode):
    import json

    r = bare.call("POST", "/cgi-bin/menu/create", params={"access_token": bare.token()},
                  data=json.dumps(menu, ensure_ascii=False).encode())
    assert r.json()["errcode"] == errcode


def test_qrcode_and_user_info_without_nickname(bare):
    token = bare.token()
    qr = bare.api("POST", "qrcode/create", token, json={"expire_seconds": 600, "action_name": "QR_STR_SCENE",
                                                        "action_info": {"scene": {"scene_str": "ABCD2345"}}})
    assert qr["ticket"] and qr["expire_seconds"] == 600
    assert bare.emulator.platform.scene_of(qr["ticket"]) == "ABCD2345"
    info = user_info(bare, token)
    assert info["subscribe"] == 1 and "nickname" not in info and "headimgurl" not in info
    assert user_info(bare, token, "o-unknown")["errcode"] == 40003


def test_fault_injection_sequence_latency_and_call_log(bare):
    token = bare.token()
    bare.call("POST", "/_emu/faults", json={"endpoint": "user/info", "sequence": [-1, 45009, "500", 40001]})
    codes = []
    for _ in range(5):
        r = bare.call("GET", "/cgi-bin/user/info", params={"access_token": token, "openid": "o-bob"})
        codes.append(r.status_code if r.status_code != 200 else r.json()["errcode"])
    assert codes == [-1, 45009, 500, 40001, 0]
    bare.call("POST", "/_emu/faults", json={"endpoint": "user/info", "sequence": ["timeout"], "timeout_seconds": 1})
    import requests

    with pytest.raises(requests.Timeout):
        bare.call("GET", "/cgi-bin/user/info", params={"access_token": token, "openid": "o-bob"}, timeout=0.3)
    log = bare.call("GET", "/_emu/calls", params={"endpoint": "user/info"}).json()
    assert log["count"] == 6 and [c["errcode"] for c in log["calls"]] == [-1, 45009, 500, 40001, 0, "timeout"]


def test_error_rate_and_configured_templates(bare):
    token = bare.token()
    bare.call("POST", "/_emu/faults", json={"endpoint": "user/info", "error_rate": 1.0})
    assert {user_info(bare, token)["errcode"] for _ in range(5)} == {-1}
    bare.call("POST", "/_emu/faults", json={"endpoint": "user/info", "error_rate": 0.0})
    assert user_info(bare, token)["errcode"] == 0
    assert bare.call("POST", "/_emu/templates", json={"TPL_NEW": ["keyword1"]}).status_code == 200
    sent = bare.api("POST", "message/template/send", token, json={
        "touser": "o-bob", "template_id": "TPL_NEW", "data": {"keyword1": {"value": "好"}}})
    assert sent["errcode"] == 0
    missing = bare.api("POST", "message/template/send", token, json={
        "touser": "o-bob", "template_id": "TPL_NEW", "data": {}})
    assert missing["errcode"] == 47003 and "keyword1" in missing["errmsg"]
