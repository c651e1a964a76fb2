"""Configuration: one TOML file, loaded once into frozen dataclasses and validated.

Nothing here runs at import time. `load_config()` reads the file named by the
TUANJIE_CONFIG environment variable (default ``config.toml``); when that file is
absent the demo values below apply, which only make sense on 127.0.0.1. A config file
must name the account and its secrets itself (in the file or in environment variables):
a key left out is an error, never a silent fallback to the published demo values, and
those values are refused unless the WeChat API is a local emulator (a loopback URL).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

APP_ROOT = Path(__file__).resolve().parent

# Demo values: usable for `make run` and the local emulator, useless against the real platform.
DEMO_APP_ID = "wx00demo0000tuanjie"
DEMO_TOKEN = "tuanjieDemoToken"
DEMO_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEMO_API_TOKEN = "demo-api-token"
DEMO_APP_SECRET = "demo-app-secret"
DEMO_API_BASE = "http://127.0.0.1:8001"  # the emulator that `make run` starts
DEMO = {"wechat": {"app_id": DEMO_APP_ID, "app_secret": DEMO_APP_SECRET, "token": DEMO_TOKEN,
                   "encoding_aes_key": DEMO_AES_KEY, "api_base": DEMO_API_BASE},
        "api": {"token": DEMO_API_TOKEN}}
# Keys a config file must set (here or through ENV_OVERRIDES); encoding_aes_key not in plain mode.
REQUIRED = (("wechat", "app_id"), ("wechat", "app_secret"), ("wechat", "token"), ("wechat", "encoding_aes_key"),
            ("api", "token"))
_LOOPBACK = re.compile(r"https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", re.I)

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
    ("dashboard", "public_url"): "TUANJIE_PUBLIC_URL",
    ("dashboard", "secret_key"): "TUANJIE_DASHBOARD_SECRET_KEY",
    ("storage", "access_key"): "TUANJIE_S3_ACCESS_KEY",
    ("storage", "secret_key"): "TUANJIE_S3_SECRET_KEY",
}


class ConfigError(Exception):
    """Invalid configuration; the message names the key and the problem."""


@dataclass(frozen=True)
class WechatConfig:
    # No defaults for the account and its secrets: see REQUIRED (the demo sets DEMO's).
    app_id: str = ""
    app_secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    encrypt_mode: str = "safe"
    api_base: str = "https://api.weixin.qq.com"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///data/tuanjie.db"


@dataclass(frozen=True)
class DashboardConfig:
    # Where people reach the server: the links the bot sends (登录, notices) start with it.
    public_url: str = "http://127.0.0.1:8000"
    # Cookies only over HTTPS (set true behind the TLS proxy of docs/nginx/tuanjie.conf).
    secure_cookies: bool = False
    # Signs the dashboard's cookies and CSRF tokens; empty: derived from the account's secrets.
    secret_key: str = ""
    session_hours: int = 12
    login_link_minutes: int = 5
    # Failed password logins allowed within the window, per account and per address.
    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    failure_window_minutes: int = 15
    # The desktop login page and the binding slips use the platform's scene QR codes (only a
    # verified service account may create them; a local emulator always can). False: login
    # through the bot's link, and slips show the code with the one-line instruction.
    scene_qr: bool = False


@dataclass(frozen=True)
class StorageConfig:
    # Messages that arrive while the database cannot be reached wait here, on local disk,
    # until they can be applied (bot/spool.py). Relative to the config file's folder.
    spool_dir: str = "data/spool"
    # Files that hold phone numbers or live codes (binding-code sheets), written mode 0600 in
    # a folder only its owner can open.
    private_dir: str = "data/private"
    # The evidence archive: photos, voice and video fetched from WeChat, kept by content.
    media_dir: str = "data/media"
    # Files fetched at once by the media job.
    media_concurrency: int = 8
    # Where the archive's files are kept: "local" (media_dir, this machine's disk) or "s3", an
    # S3-compatible object store every web machine shares (docs/object-store.md). With "s3",
    # media_dir only holds files being written (media_dir/tmp).
    backend: str = "local"
    endpoint_url: str = ""  # empty: AWS itself; MinIO "http://10.0.0.5:9000", OSS, COS: their S3 endpoint
    bucket: str = ""
    prefix: str = ""  # keys start with it ("tuanjie/"), when the bucket holds other things too
    region: str = "us-east-1"
    access_key: str = ""  # or TUANJIE_S3_ACCESS_KEY
    secret_key: str = ""  # or TUANJIE_S3_SECRET_KEY
    addressing_style: str = "auto"  # "path" (MinIO), "virtual" (OSS, COS), "auto"
    connect_timeout: int = 5  # seconds
    read_timeout: int = 30  # seconds without a byte
    max_attempts: int = 3  # a request's attempts in all, the first included


@dataclass(frozen=True)
class CampaignConfig:
    plan: str = "plans/minzu_tuanjie.toml"
    timezone: str = "Asia/Shanghai"
    # The unit's name, as the year-end workbooks and the drafted 工作总结 print it.
    unit: str = "本单位"
    # A font file with Chinese glyphs for the report's charts; empty: what fontconfig offers.
    report_font: str = ""


@dataclass(frozen=True)
class ApiConfig:
    token: str = ""


@dataclass(frozen=True)
class BindingConfig:
    code_ttl_days: int = 7
    max_failures: int = 5
    failure_window_minutes: int = 10


@dataclass(frozen=True)
class PushConfig:
    # Template message used for scheduled reminders and its keyword mapping.
    template_id: str = "TPL_REMINDER"
    title_field: str = "thing1"
    text_field: str = "thing2"
    time_field: str = "time3"
    # Template for subscription notices (channel = "subscribe"), if the account has one.
    subscribe_template_id: str = ""
    # No message is sent from quiet_start to quiet_end, nor on a day that is not a workday.
    quiet_start: str = "20:00"
    quiet_end: str = "08:30"
    # At most this many reminders per person per week (Monday to Sunday).
    weekly_cap: int = 3
    # At most this many messages per person per calendar month, every kind counted; a department
    # leader's allowance holds the weekly digest too. When the month is full the least important
    # goes first (schedules/caps.py); an organiser's notice is never dropped, but counts.
    monthly_cap: int = 5
    leader_monthly_cap: int = 6
    # Sender: requests in flight at once, and the overall rate limit.
    concurrency: int = 16
    rate_per_second: int = 200
    # A claimed message not finished within this time is given up as "unknown".
    lease_seconds: int = 120
    max_attempts: int = 5
    # After 45009 (daily quota reached) the sender pauses for this long.
    quota_pause_minutes: int = 60
    # Where the shared access_token lives: "database" or "redis".
    token_store: str = "database"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Extra holidays and 调休 make-up workdays ("2027-01-01"), over the plan's and the official ones.
    holidays: list = field(default_factory=list)
    workdays: list = field(default_factory=list)

    def quiet(self) -> tuple[dt.time, dt.time]:
        return _hhmm(self.quiet_start), _hhmm(self.quiet_end)


def _hhmm(value: str) -> dt.time:
    return dt.time(int(value[:2]), int(value[3:]))


@dataclass(frozen=True)
class SchedulerConfig:
    # Jobs the scheduler leaves to processes of their own: "send" (`flask --app server sender`,
    # any number of them) and "media" (`flask --app server media`). docs/deploy.md.
    separate: list = field(default_factory=list)


SEPARABLE_JOBS = ("send", "media")  # the jobs a process of its own may run instead of the scheduler


@dataclass(frozen=True)
class Config:
    wechat: WechatConfig = field(default_factory=WechatConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    binding: BindingConfig = field(default_factory=BindingConfig)
    push: PushConfig = field(default_factory=PushConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
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
    def local_api(self) -> bool:
        """The WeChat API is a local emulator (a loopback URL), not the real platform."""
        return bool(_LOOPBACK.match(self.wechat.api_base))

    @property
    def scene_qr(self) -> bool:
        """Scene QR codes (the desktop login, binding slips): when the account may create them,
        and always with a local emulator, which can."""
        return self.dashboard.scene_qr or self.local_api

    @property
    def plan_path(self) -> Path:
        """The plan file: a relative path is looked for beside the config file, then among the
        plans shipped with Tuanjie (so "plans/minzu_tuanjie.toml" from the example config still
        names the seed plan when the config lives in /etc)."""
        own = self.path(self.campaign.plan)
        shipped = APP_ROOT / self.campaign.plan
        return shipped if not own.exists() and not Path(self.campaign.plan).is_absolute() and shipped.is_file() \
            else own


_SECTIONS = {
    "wechat": WechatConfig,
    "database": DatabaseConfig,
    "campaign": CampaignConfig,
    "api": ApiConfig,
    "binding": BindingConfig,
    "push": PushConfig,
    "storage": StorageConfig,
    "dashboard": DashboardConfig,
    "scheduler": SchedulerConfig,
}


def load_config(path: str | os.PathLike | None = None, environ=None) -> Config:
    """Read, merge environment overrides, validate. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get("TUANJIE_CONFIG") or "config.toml"  # set but empty counts as unset
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"TUANJIE_CONFIG: {path} is a directory, not a TOML file")
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        base_dir, demo = str(path.resolve().parent), False
    elif environ.get("TUANJIE_CONFIG") and path == Path(environ["TUANJIE_CONFIG"]):
        raise ConfigError(f"TUANJIE_CONFIG: file {path} does not exist")
    else:
        # Demo: public secrets are useless against the real platform, so talk to the local emulator,
        # the one a running `make run` started (on whatever port) if there is one.
        raw, base_dir, demo = {name: dict(values) for name, values in DEMO.items()}, str(APP_ROOT), True
        running = demo_run(environ)
        if running:
            raw["wechat"]["api_base"] = running["api_base"]
    return validate(build(raw, environ, base_dir, demo))


# Written by `make run` (emulator/demo.py) while it runs: where its server and emulator listen.
DEMO_RUN = APP_ROOT / "data" / "make-run.json"


def demo_run_file(environ=None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("TUANJIE_RUN_FILE") or DEMO_RUN)


def demo_run(environ=None) -> dict | None:
    """{"api_base", "webhook", "server", "pid"} of the `make run` now running, or None."""
    import json

    try:
        run = json.loads(demo_run_file(environ).read_text(encoding="utf-8"))
        os.kill(int(run["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return run if isinstance(run.get("api_base"), str) and _LOOPBACK.match(run["api_base"]) else None


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
    if w.token and not re.fullmatch(r"[A-Za-z0-9]{3,32}", w.token):
        raise ConfigError("wechat.token: must be 3-32 letters or digits, as the WeChat console requires")
    if w.encoding_aes_key:
        _check_aes_key(w.encoding_aes_key)
    if not _url(w.api_base, ("http", "https")):
        raise ConfigError(f"wechat.api_base: must be an http(s) URL with a host, got {w.api_base!r}")
    url = cfg.database.url
    if not url.startswith(("sqlite:///", "postgres://", "postgresql://", "mysql://", "postgres+pool://",
                           "postgresql+pool://", "mysql+pool://")):
        raise ConfigError(f"database.url: unsupported scheme in {url!r} (sqlite:///, postgresql://, mysql://)")
    if url.startswith("sqlite:///") and not url[len("sqlite:///"):].strip():
        raise ConfigError("database.url: no file after sqlite:/// (e.g. sqlite:///data/tuanjie.db)")
    if not url.startswith("sqlite:///") and not urlsplit(url).path.strip("/"):
        raise ConfigError(f"database.url: no database name in {redact(url)} (e.g. postgresql://user@host:5432/tuanjie)")
    try:
        cfg.tz
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"campaign.timezone: unknown time zone {cfg.campaign.timezone!r}") from exc
    if cfg.plan_path.is_dir():
        raise ConfigError(f"campaign.plan: {cfg.plan_path} is a directory; name the plan's .toml file")
    if not cfg.plan_path.is_file():
        tried = "" if Path(cfg.campaign.plan).is_absolute() else f" (nor {APP_ROOT / cfg.campaign.plan})"
        raise ConfigError(f"campaign.plan: file {cfg.plan_path} does not exist{tried}")
    _validate_campaign(cfg)
    if cfg.api.token and len(cfg.api.token.strip()) < 12:
        raise ConfigError("api.token: must be at least 12 characters")
    b = cfg.binding
    for key, high in (("code_ttl_days", 365), ("max_failures", 100), ("failure_window_minutes", 7 * 24 * 60)):
        if not 1 <= getattr(b, key) <= high:
            raise ConfigError(f"binding.{key}: must be from 1 to {high}, got {getattr(b, key)}")
    _validate_push(cfg.push)
    for key in ("spool_dir", "private_dir", "media_dir"):
        if not getattr(cfg.storage, key).strip():
            raise ConfigError(f"storage.{key}: give a folder (relative to the config file's, or absolute)")
    _validate_dashboard(cfg.dashboard)
    if not 1 <= cfg.storage.media_concurrency <= 64:
        raise ConfigError(f"storage.media_concurrency: must be from 1 to 64, got {cfg.storage.media_concurrency}")
    _validate_object_store(cfg.storage)
    for job in cfg.scheduler.separate:
        if job not in SEPARABLE_JOBS:
            raise ConfigError(f"scheduler.separate: {job!r} is not a job that runs on its own "
                              f"(one of: {', '.join(SEPARABLE_JOBS)})")
    _check_account(cfg)
    return cfg


def _url(value: str, schemes: tuple[str, ...]) -> bool:
    """A URL of one of these schemes (any case) with a host (or a socket path), and no spaces."""
    parts = urlsplit(value)
    return (parts.scheme.lower() in schemes and not re.search(r"\s", value)
            and bool(parts.netloc or (parts.scheme == "unix" and parts.path)))


def redact(url: str) -> str:
    """A database URL fit for a message: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def _check_account(cfg: Config) -> None:
    """The account and its secrets are set, and are not the published demo values on a server
    that talks to the real platform."""
    real = not cfg.local_api
    for section, key in REQUIRED:
        if (section, key) == ("wechat", "encoding_aes_key") and cfg.wechat.encrypt_mode == "plain":
            continue
        value, var = getattr(getattr(cfg, section), key).strip(), ENV_OVERRIDES.get((section, key))
        where = f" (or the environment variable {var})" if var else ""
        if not value:
            raise ConfigError(f"{section}.{key}: required: set it in the config file{where}")
        if real and value == DEMO[section][key] and key != "app_id":
            raise ConfigError(f"{section}.{key}: is the public demo value, which anyone can read: set your own"
                              f"{where}; demo values only work with a local emulator as wechat.api_base")


def _validate_campaign(cfg: Config) -> None:
    c = cfg.campaign
    if not c.unit.strip() or len(c.unit) > 40 or any(ch in c.unit for ch in "\r\n\t"):
        raise ConfigError(f"campaign.unit: the unit's name, 1-40 characters on one line, got {c.unit!r}")
    if c.report_font and not cfg.path(c.report_font).is_file():
        raise ConfigError(f"campaign.report_font: no font file {cfg.path(c.report_font)}")


def _validate_dashboard(d: DashboardConfig) -> None:
    if not _url(d.public_url, ("http", "https")):
        raise ConfigError(f"dashboard.public_url: must be an http(s) URL with a host, got {d.public_url!r}")
    if d.secret_key and len(d.secret_key) < 24:
        raise ConfigError("dashboard.secret_key: at least 24 characters (or leave it empty to derive one)")
    for key, low, high in (("session_hours", 1, 24 * 30), ("login_link_minutes", 1, 60),
                           ("max_failures_per_account", 1, 100), ("max_failures_per_address", 1, 1000),
                           ("failure_window_minutes", 1, 24 * 60)):
        if not low <= getattr(d, key) <= high:
            raise ConfigError(f"dashboard.{key}: must be from {low} to {high}, got {getattr(d, key)}")


BACKENDS = ("local", "s3")
ADDRESSING = ("auto", "path", "virtual")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _validate_object_store(s: StorageConfig) -> None:
    """[storage] backend and, for "s3", the bucket, where it is, and the keys to it."""
    if s.backend not in BACKENDS:
        raise ConfigError(f"storage.backend: must be local or s3, got {s.backend!r}")
    for key, low, high in (("connect_timeout", 1, 120), ("read_timeout", 1, 600), ("max_attempts", 1, 10)):
        if not low <= getattr(s, key) <= high:
            raise ConfigError(f"storage.{key}: must be from {low} to {high}, got {getattr(s, key)}")
    if s.backend == "local":
        return
    if not _BUCKET.fullmatch(s.bucket) or ".." in s.bucket:
        raise ConfigError(f"storage.bucket: required with backend = \"s3\": 3-63 lowercase letters, digits, "
                          f"dots or hyphens, got {s.bucket!r}")
    if s.endpoint_url and not _url(s.endpoint_url, ("http", "https")):
        raise ConfigError(f"storage.endpoint_url: must be an http(s) URL with a host, got {s.endpoint_url!r}")
    if s.addressing_style not in ADDRESSING:
        raise ConfigError(f"storage.addressing_style: must be one of {', '.join(ADDRESSING)}, got "
                          f"{s.addressing_style!r}")
    if not re.fullmatch(r"[A-Za-z0-9-]{2,40}", s.region):
        raise ConfigError(f"storage.region: not a region name like us-east-1 or cn-hangzhou, got {s.region!r}")
    if s.prefix.startswith("/") or re.search(r"\s|\.\.", s.prefix):
        raise ConfigError(f"storage.prefix: a key prefix like \"tuanjie/\" (no leading slash, spaces or ..), "
                          f"got {s.prefix!r}")
    for key, var in (("access_key", "TUANJIE_S3_ACCESS_KEY"), ("secret_key", "TUANJIE_S3_SECRET_KEY")):
        if not getattr(s, key).strip():
            raise ConfigError(f"storage.{key}: required with backend = \"s3\": set it in the config file "
                              f"(or the environment variable {var})")


def _validate_push(p: PushConfig) -> None:
    for key in ("quiet_start", "quiet_end"):
        value = getattr(p, key)
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ConfigError(f"push.{key}: must be a time like \"20:00\", got {value!r}")
    for key, low in (("weekly_cap", 1), ("concurrency", 1), ("rate_per_second", 1), ("lease_seconds", 10),
                     ("max_attempts", 1), ("quota_pause_minutes", 1)):
        if getattr(p, key) < low:
            raise ConfigError(f"push.{key}: must be at least {low}")
    for key in ("monthly_cap", "leader_monthly_cap"):
        if not 1 <= getattr(p, key) <= 100:
            raise ConfigError(f"push.{key}: must be from 1 to 100, got {getattr(p, key)}")
    if p.leader_monthly_cap < p.monthly_cap:
        raise ConfigError(f"push.leader_monthly_cap: {p.leader_monthly_cap} is below push.monthly_cap "
                          f"({p.monthly_cap}): a leader gets everyone's reminders and the digest too")
    if p.concurrency > 256:
        raise ConfigError("push.concurrency: at most 256")
    if p.token_store not in ("database", "redis"):
        raise ConfigError(f"push.token_store: must be database or redis, got {p.token_store!r}")
    if not _url(p.redis_url, ("redis", "rediss", "unix")):
        raise ConfigError(f"push.redis_url: must be a redis://host:port/db URL, got {p.redis_url!r}")
    for key in ("holidays", "workdays"):
        for value in getattr(p, key):
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                raise ConfigError(f"push.{key}: {value!r} is not a date like \"2027-01-01\"") from None
    both = sorted(set(map(str, p.holidays)) & set(map(str, p.workdays)))
    if both:
        raise ConfigError(f"push.holidays: {both[0]} is also in push.workdays")
    for key in ("template_id", "title_field", "text_field", "time_field"):
        if not getattr(p, key):
            raise ConfigError(f"push.{key}: required (the reminder template's id and keyword names)")


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
