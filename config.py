"""Configuration: one TOML file, loaded once into frozen dataclasses and validated.

Nothing here runs at import time. `load_config()` reads the file named by the
TUANJIE_CONFIG environment variable (default ``config.toml``); when that file is
absent the demo defaults below apply, which only make sense on 127.0.0.1.
Secrets may be overridden by environment variables so they need not live in the file.
"""
from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

APP_ROOT = Path(__file__).resolve().parent

# Demo values: usable for `make run` and the local emulator, useless against the real platform.
DEMO_APP_ID = "wx00demo0000tuanjie"
DEMO_TOKEN = "tuanjieDemoToken"
DEMO_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEMO_API_TOKEN = "demo-api-token"

ENCRYPT_MODES = ("safe", "compat", "plain")

# Keys that an environment variable overrides (mostly secrets): (section, key) -> variable.
ENV_OVERRIDES = {
    ("wechat", "app_secret"): "TUANJIE_WECHAT_APP_SECRET",
    ("wechat", "token"): "TUANJIE_WECHAT_TOKEN",
    ("wechat", "encoding_aes_key"): "TUANJIE_WECHAT_ENCODING_AES_KEY",
    ("api", "token"): "TUANJIE_API_TOKEN",
    ("database", "url"): "TUANJIE_DATABASE_URL",
    # Not a secret: lets `make run` point a config-less server at the local emulator.
    ("wechat", "api_base"): "TUANJIE_WECHAT_API_BASE",
}


class ConfigError(Exception):
    """Invalid configuration; the message names the key and the problem."""


@dataclass(frozen=True)
class WechatConfig:
    app_id: str = DEMO_APP_ID
    app_secret: str = "demo-app-secret"
    token: str = DEMO_TOKEN
    encoding_aes_key: str = DEMO_AES_KEY
    encrypt_mode: str = "safe"
    api_base: str = "https://api.weixin.qq.com"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///data/tuanjie.db"


@dataclass(frozen=True)
class CampaignConfig:
    plan: str = "plans/minzu_tuanjie.toml"
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class ApiConfig:
    token: str = DEMO_API_TOKEN


@dataclass(frozen=True)
class BindingConfig:
    code_ttl_days: int = 7
    max_failures: int = 5
    failure_window_minutes: int = 10


@dataclass(frozen=True)
class Config:
    wechat: WechatConfig = field(default_factory=WechatConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    binding: BindingConfig = field(default_factory=BindingConfig)
    # Directory that relative paths (plan, SQLite file) are resolved against.
    base_dir: str = str(APP_ROOT)
    demo: bool = False

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.campaign.timezone)

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def plan_path(self) -> Path:
        return self.path(self.campaign.plan)


_SECTIONS = {
    "wechat": WechatConfig,
    "database": DatabaseConfig,
    "campaign": CampaignConfig,
    "api": ApiConfig,
    "binding": BindingConfig,
}


def load_config(path: str | os.PathLike | None = None, environ=None) -> Config:
    """Read, merge environment overrides, validate. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get("TUANJIE_CONFIG", "config.toml")
    path = Path(path)
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        base_dir, demo = str(path.resolve().parent), False
    elif "TUANJIE_CONFIG" in environ and path == Path(environ["TUANJIE_CONFIG"]):
        raise ConfigError(f"TUANJIE_CONFIG: file {path} does not exist")
    else:
        raw, base_dir, demo = {}, str(APP_ROOT), True
    return validate(build(raw, environ, base_dir, demo))


def build(raw: dict, environ, base_dir: str, demo: bool) -> Config:
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"[{sorted(unknown)[0]}]: unknown section (known: {', '.join(_SECTIONS)})")
    sections = {}
    for name, cls in _SECTIONS.items():
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{name}: must be a table [{name}]")
        known = {f.name: f for f in fields(cls)}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{name}.{key}: unknown key")
            expected = type(getattr(cls(), key))
            if type(value) is not expected:
                raise ConfigError(f"{name}.{key}: must be {expected.__name__}, got {type(value).__name__}")
        if name == "campaign" and "plan" not in values:
            # The shipped plan, wherever the config file lives.
            values = {**values, "plan": str(APP_ROOT / CampaignConfig.plan)}
        section = cls(**values)
        for (sec, key), var in ENV_OVERRIDES.items():
            if sec == name and environ.get(var):
                section = replace(section, **{key: environ[var]})
        sections[name] = section
    return Config(**sections, base_dir=base_dir, demo=demo)


def validate(cfg: Config) -> Config:
    w = cfg.wechat
    if w.encrypt_mode not in ENCRYPT_MODES:
        raise ConfigError(f"wechat.encrypt_mode: must be one of {', '.join(ENCRYPT_MODES)}, got {w.encrypt_mode!r}")
    if not re.fullmatch(r"[A-Za-z0-9]{3,32}", w.token):
        raise ConfigError("wechat.token: must be 3-32 letters or digits, as the WeChat console requires")
    if w.encrypt_mode != "plain" or w.encoding_aes_key:
        _check_aes_key(w.encoding_aes_key)
    if w.encrypt_mode != "plain" and not w.app_id:
        raise ConfigError("wechat.app_id: required in safe and compat mode (it is inside every ciphertext)")
    if not w.api_base.startswith(("http://", "https://")):
        raise ConfigError(f"wechat.api_base: must be an http(s) URL, got {w.api_base!r}")
    url = cfg.database.url
    if not url.startswith(("sqlite:///", "postgres://", "postgresql://", "mysql://", "postgres+pool://",
                           "postgresql+pool://", "mysql+pool://")):
        raise ConfigError(f"database.url: unsupported scheme in {url!r} (sqlite:///, postgresql://, mysql://)")
    try:
        cfg.tz
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"campaign.timezone: unknown time zone {cfg.campaign.timezone!r}") from exc
    if not cfg.plan_path.is_file():
        raise ConfigError(f"campaign.plan: file {cfg.plan_path} does not exist")
    if len(cfg.api.token) < 12:
        raise ConfigError("api.token: must be at least 12 characters")
    b = cfg.binding
    for key in ("code_ttl_days", "max_failures", "failure_window_minutes"):
        if getattr(b, key) < 1:
            raise ConfigError(f"binding.{key}: must be at least 1")
    return cfg


def _check_aes_key(key: str) -> None:
    import base64
    import binascii

    if len(key) != 43:
        raise ConfigError(f"wechat.encoding_aes_key: must be 43 characters, got {len(key)}")
    try:
        raw = base64.b64decode(key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("wechat.encoding_aes_key: not base64 (letters and digits only)") from exc
    if len(raw) != 32:
        raise ConfigError("wechat.encoding_aes_key: does not decode to a 32-byte AES key")
