"""The one outbound client: every failure is a WeChatError that says whether it may have left,
and no message anywhere shows the access token."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bot.client import TRANSPORT, Client, WeChatError
from bot.menu import MENU
from models import AccessToken
from tests.conftest import APP_ID, start_emulator, write_config

SECRET = "SECRET-TOKEN-0123456789"


def store_token(token: str = SECRET) -> None:
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)
    AccessToken.create(app_id=APP_ID, token=token, expires_at=later, updated_at=later)


def menu_app(world, tmp_path, db_url, api_base):
    from config import load_config
    from server import create_app

    return create_app(load_config(write_config(tmp_path, db_url, name="menu.toml", api_base=api_base), environ={}))


def test_create_menu_names_an_unreachable_platform_without_the_token(world, tmp_path, db_url):
    store_token()
    app = menu_app(world, tmp_path, db_url, "http://127.0.0.1:9")
    result = app.test_cli_runner().invoke(args=["create-menu"])
    assert result.exit_code == 1
    assert "menu/create failed" in result.output and "access_token=***" in result.output, result.output
    assert SECRET not in result.output


def test_create_menu_reports_a_platform_error_by_its_code(world, emu, tmp_path, db_url):
    emu.call("POST", "/_emu/faults", json={"endpoint": "menu/create", "sequence": [-1]})
    app = menu_app(world, tmp_path, db_url, emu.base)
    result = app.test_cli_runner().invoke(args=["create-menu"])
    assert result.exit_code == 1 and "menu/create failed: -1: system error" in result.output, result.output
    assert app.test_cli_runner().invoke(args=["create-menu"]).exit_code == 0
    assert emu.api("GET", "menu/get", token=emu.token())["menu"]["button"][0]["key"] == MENU["button"][0]["key"]


def test_a_dropped_answer_may_have_left_and_a_refused_connection_did_not(world, emu):
    from config import load_config

    cfg = load_config(write_config(world.tmp, "sqlite:///unused.db", name="c.toml", api_base=emu.base), environ={})
    client = Client(cfg.wechat)
    emu.call("POST", "/_emu/faults", json={"endpoint": "menu/create", "sequence": ["reset"]})
    with pytest.raises(WeChatError) as caught:
        client.create_menu(MENU)
    dropped = caught.value
    assert dropped.errcode == TRANSPORT and dropped.may_have_left and not dropped.permanent
    refused = Client(dataclasses.replace(cfg.wechat, api_base="http://127.0.0.1:9"))
    refused._cached.token, refused._cached.expires = SECRET, 4e9
    with pytest.raises(WeChatError) as caught:
        refused.create_menu(MENU)
    never = caught.value
    assert never.errcode == TRANSPORT and not never.may_have_left and SECRET not in str(never)
