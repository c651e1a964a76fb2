"""`flask --app server create-menu`: the account's menu, through the one outbound client."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from bot.client import WeChatError
from bot.menu import MENU
from commands import register, runtime

cli = AppGroup("bot")


@cli.command("create-menu")
def create_menu():
    """Create the account's menu (打卡 / 我的进度 / 帮助) through the WeChat API."""
    rt = runtime()
    try:
        rt.client.create_menu(MENU)
    except WeChatError as exc:  # its message masks the access token
        raise click.ClickException(f"menu/create failed: {exc}") from None
    click.echo(f"menu created at {rt.config.wechat.api_base}")


def init_app(app) -> None:
    register(app, cli)
