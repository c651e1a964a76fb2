"""Config and plan validation name the key or field and the reason; start-up stops on them."""
import datetime as dt
import re
import subprocess
import sys

import pytest

from campaign.plan import PlanError, load_plan, parse_plan
from config import APP_ROOT, DEMO_API_TOKEN, DEMO_TOKEN, ConfigError, load_config

TODAY = dt.date(2026, 12, 1)
SEED = APP_ROOT / "plans" / "minzu_tuanjie.toml"


ACCOUNT = """
[wechat]
app_id = "wx0000test0000app"
app_secret = "test-secret"
token = "fileToken"
encoding_aes_key = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
[api]
token = "file-token-123456"
"""


def write(tmp_path, text: str, name="config.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, words", [
    ('[wechat]\nencrypt_mode = "secret"', ["wechat.encrypt_mode", "safe, compat, plain"]),
    ('[wechat]\ntoken = "x"', ["wechat.token", "3-32"]),
    ('[wechat]\nencoding_aes_key = "short"', ["wechat.encoding_aes_key", "43"]),
    ('[wechat]\napi_base = "ftp://x"', ["wechat.api_base"]),
    ('[wechat]\ncolour = "red"', ["wechat.colour", "unknown key"]),
    ('[wechat]\ntoken = 42', ["wechat.token", "must be str"]),
    ('[database]\nurl = "oracle://x"', ["database.url", "unsupported"]),
    ('[campaign]\ntimezone = "Mars/Olympus"', ["campaign.timezone"]),
    ('[campaign]\nplan = "nope.toml"', ["campaign.plan", "does not exist"]),
    ('[api]\ntoken = "short"', ["api.token", "12"]),
    ('[binding]\nmax_failures = 0', ["binding.max_failures", "from 1 to 100"]),
    ('[binding]\ncode_ttl_days = 100000000', ["binding.code_ttl_days", "from 1 to 365"]),
    ('[bogus]\nx = 1', ["[bogus]", "unknown section"]),
    ('[push]\nholidays = ["2027-01-04"]\nworkdays = ["2027-01-04"]', ["push.holidays", "2027-01-04", "workdays"]),
    ('[push]\ntitle_field = ""', ["push.title_field", "required"]),
    ('[wechat]\napi_base = "http://"', ["wechat.api_base", "with a host"]),
    ('[wechat]\napi_base = "http://api weixin"', ["wechat.api_base"]),
    ('[push]\nredis_url = "127.0.0.1:6379"', ["push.redis_url"]),
    ('[campaign]\nplan = "/tmp"', ["campaign.plan", "is a directory"]),
    ("this is = = not toml", ["not valid TOML"]),
    ('[scheduler]\nseparate = ["send", "remind"]', ["scheduler.separate", "'remind'", "send, media"]),
])
def test_bad_config_names_key_and_problem(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={})
    for word in words:
        assert word in str(err.value)


def test_missing_config_means_demo_defaults_but_a_named_missing_file_is_an_error(tmp_path):
    cfg = load_config(tmp_path / "absent.toml", environ={})
    assert cfg.demo and cfg.wechat.encrypt_mode == "safe"
    assert cfg.wechat.api_base == "http://127.0.0.1:8001"  # demo secrets only work on the emulator
    with pytest.raises(ConfigError, match="TUANJIE_CONFIG"):
        load_config(environ={"TUANJIE_CONFIG": str(tmp_path / "absent.toml")})


def test_secrets_come_from_the_environment(tmp_path):
    path = write(tmp_path, ACCOUNT)
    cfg = load_config(path, environ={"TUANJIE_WECHAT_TOKEN": "envToken", "TUANJIE_API_TOKEN": "env-token-123456",
                                     "TUANJIE_WECHAT_APP_SECRET": "s3cret"})
    assert (cfg.wechat.token, cfg.api.token, cfg.wechat.app_secret) == ("envToken", "env-token-123456", "s3cret")


def test_a_config_file_must_name_the_account_and_not_use_the_demo_secrets(tmp_path):
    # A key left out is an error naming it, not the published demo value.
    for missing in ("app_id", "app_secret", "token", "encoding_aes_key"):
        text = "\n".join(line for line in ACCOUNT.splitlines() if not line.startswith(f"{missing} ="))
        with pytest.raises(ConfigError, match=f"wechat.{missing}: required"):
            load_config(write(tmp_path, text), environ={})
    with pytest.raises(ConfigError, match="api.token: required.*TUANJIE_API_TOKEN"):
        load_config(write(tmp_path, ACCOUNT.replace('token = "file-token-123456"', "")), environ={})
    with pytest.raises(ConfigError, match="wechat.app_id: required"):
        load_config(write(tmp_path, ""), environ={})  # an empty file is no demo
    with pytest.raises(ConfigError, match="wechat.app_secret: required"):
        load_config(write(tmp_path, ACCOUNT.replace('"test-secret"', '"   "')), environ={})
    plain = ACCOUNT.replace('encoding_aes_key = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"', 'encrypt_mode = "plain"')
    assert load_config(write(tmp_path, plain), environ={}).wechat.encoding_aes_key == ""
    # The published demo secrets are refused towards the real platform, accepted towards a local emulator.
    for key, demo in (("token", DEMO_TOKEN), ("app_secret", "demo-app-secret")):
        text = re.sub(rf'\n{key} = "[^"]*"', f'\n{key} = "{demo}"', ACCOUNT, count=1)
        with pytest.raises(ConfigError, match=f"wechat.{key}: is the public demo value"):
            load_config(write(tmp_path, text), environ={})
        local = text.replace("[wechat]", '[wechat]\napi_base = "http://127.0.0.1:8001"')
        assert getattr(load_config(write(tmp_path, local), environ={}).wechat, key) == demo
    with pytest.raises(ConfigError, match="api.token: is the public demo value"):
        load_config(write(tmp_path, ACCOUNT), environ={"TUANJIE_API_TOKEN": DEMO_API_TOKEN})


def test_relative_paths_are_resolved_against_the_config_file(tmp_path):
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "p.toml").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    cfg = load_config(write(tmp_path, ACCOUNT + '[campaign]\nplan = "plans/p.toml"'), environ={})
    assert cfg.plan_path == tmp_path / "plans" / "p.toml"
    # The example's plan path, from a config elsewhere (/etc), still finds the shipped seed plan...
    cfg = load_config(write(tmp_path, ACCOUNT + '[campaign]\nplan = "plans/minzu_tuanjie.toml"'), environ={})
    assert cfg.plan_path == SEED
    # ...but a plan beside the config file comes first.
    (tmp_path / "plans" / "minzu_tuanjie.toml").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    cfg = load_config(write(tmp_path, ACCOUNT + '[campaign]\nplan = "plans/minzu_tuanjie.toml"'), environ={})
    assert cfg.plan_path == tmp_path / "plans" / "minzu_tuanjie.toml"


def test_start_up_stops_with_the_message(tmp_path):
    path = write(tmp_path, '[wechat]\nencrypt_mode = "secret"')
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "server", "init-db"], cwd=APP_ROOT,
                          env={"TUANJIE_CONFIG": str(path), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "wechat.encrypt_mode" in proc.stderr and "Traceback" not in proc.stderr


def test_seed_plan_follows_the_current_year_and_has_the_checklists():
    plan = load_plan(SEED, TODAY)
    assert [p.name for p in plan.phases] == ["宣传动员", "成立领导小组·制定方案", "组织实施", "总结资料整理"]
    assert plan.phases[0].start == dt.date(2026, 3, 21) and plan.phases[-1].end == dt.date(2026, 12, 31)
    assert load_plan(SEED, dt.date(2031, 1, 5)).phases[0].start == dt.date(2031, 3, 21)
    assert [i.name for i in plan.main.items] == ["共照一张全家福", "共度一个节庆日", "互写一封书信",
                                                 "共讲一个团结故事", "共种一棵团结树"]
    assert plan.target == 1.0 and plan.main.is_open(dt.date(2026, 1, 1)) and plan.main.is_open(dt.date(2026, 12, 31))
    assert {c.short for c in plan.checklists} == {"五个一", "结对", "党日", "七个一"}
    assert not any(i.evidence_required for c in plan.checklists for i in c.items)
    for word, key in [("全家福", "family_photo"), ("节日", "festival"), ("节庆", "festival"), ("写信", "letter"),
                      ("书信", "letter"), ("故事", "story"), ("种树", "tree"), ("团结树", "tree"), ("３", "letter")]:
        assert plan.main.find_item(word).key == key, word


BASE = {"name": "p", "checklists": [{"key": "a", "name": "A", "main": True,
                                     "items": [{"key": "x", "name": "X"}]}]}


@pytest.mark.parametrize("change, field, reason", [
    ({"year": 1999}, "year", "between"),
    ({"target": 1.5}, "target", "fraction"),
    ({"phases": [{"key": "p", "name": "P", "start": "03-32", "end": "04-01"}]}, "phases[0].start", "no such date"),
    ({"phases": [{"key": "p", "name": "P", "start": "04-01", "end": "03-01"}]}, "phases[0].end", "before"),
    ({"phases": [{"key": "p", "name": "P", "start": "4/1", "end": "04-02"}]}, "phases[0].start", "month-day"),
    ({"checklists": []}, "checklists", "at least one"),
    ({"checklists": [{"key": "a", "name": "A", "items": [{"key": "x", "name": "X"}]}]}, "checklists", "main"),
    ({"checklists": [{"key": "A!", "name": "A", "main": True, "items": [{"key": "x", "name": "X"}]}]},
     "checklists[0].key", "lower-case"),
    ({"checklists": [{"key": "a", "name": "A", "main": True, "items": []}]}, "checklists[0].items", "at least one"),
    ({"checklists": [{"key": "a", "name": "A", "main": True,
                      "items": [{"key": "x", "name": "X", "aliases": ["同"]}, {"key": "y", "name": "Y", "aliases": ["同"]}]}]},
     "checklists[0].items[1].aliases", "already names"),
    ({"checklists": [{"key": "a", "name": "A", "main": True,
                      "items": [{"key": "x", "name": "X", "aliases": ["2"]}]}]},
     "checklists[0].items[0].aliases", "numbers"),
    ({"checklists": [{"key": "a", "name": "A", "main": True,
                      "items": [{"key": "x", "name": "X", "evidence_required": "yes"}]}]},
     "checklists[0].items[0].evidence_required", "true or false"),
])
def test_plan_errors_name_file_field_and_reason(change, field, reason):
    with pytest.raises(PlanError) as err:
        parse_plan({**BASE, **change}, "plan.toml", TODAY)
    assert err.value.path == "plan.toml" and err.value.field == field and reason in err.value.reason


@pytest.mark.parametrize("change, field, reason", [
    ({"phases": ["a"]}, "phases[0]", "table"),
    ({"checklists": ["a"]}, "checklists[0]", "table"),
    ({"checklists": [{"key": "a", "name": "A", "main": True, "items": ["x"]}]}, "checklists[0].items[0]", "table"),
    ({"checklists": [{"key": "a", "name": "A", "main": True,
                      "items": [{"key": "x", "name": "X"}, {"key": "x", "name": "Y"}]}]},
     "checklists[0].items[1].key", "used twice"),
    ({"reminders": ["r"]}, "reminders[0]", "table"),
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "{月底}见"}]}, "reminders[0].text",
     "placeholder"),
    # Only plain {name}: attribute access or a width would format into nonsense or eat memory.
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "{phase.upper}"}]}, "reminders[0].text",
     "bad placeholder {phase.upper}"),
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "{done:>999999999}"}]},
     "reminders[0].text", "bad placeholder {done:>999999999}"),
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "{done!r}"}]}, "reminders[0].text",
     "bad placeholder {done!r}"),
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "还差{left"}]}, "reminders[0].text",
     "bad placeholder"),
    # Wrong types get the field's message, not a TypeError.
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "x", "phases": [[1]]}]},
     "reminders[0].phases", "phase keys"),
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "x", "checklist": ["a"]}]},
     "reminders[0].checklist", "no checklist"),
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "x", "months": [True]}]},
     "reminders[0].months", "month numbers"),
    # A misspelt key is an error, at every level.
    ({"targte": 1.0}, "targte", "unknown key"),
    ({"checklists": [{"key": "a", "name": "A", "main": True,
                      "items": [{"key": "x", "name": "X", "evidence": True}]}]},
     "checklists[0].items[0].evidence", "unknown key (known here: key, name, aliases, evidence_required)"),
    ({"checklists": [{"key": "a", "name": "A", "main": True, "item": [], "items": [{"key": "x", "name": "X"}]}]},
     "checklists[0].item", "unknown key"),
    ({"phases": [{"key": "p", "name": "P", "start": "03-01", "end": "03-02", "ends": "03-03"}]}, "phases[0].ends",
     "unknown key"),
    ({"reminders": [{"key": "r", "kind": "monthly", "title": "t", "text": "x", "month": [5]}]}, "reminders[0].month",
     "unknown key"),
    ({"calendar": {"holiday": ["2026-10-01"]}}, "calendar.holiday", "unknown key"),
    ({"phases": [{"key": "p", "name": "P", "start": "03-01", "end": "03-02"},
                 {"key": "p", "name": "Q", "start": "04-01", "end": "04-02"}]}, "phases[1].key", "used twice"),
    # A checklist word that begins a main-list item's word would take its messages.
    ({"checklists": [{"key": "a", "name": "A", "main": True,
                      "items": [{"key": "story", "name": "讲故事", "aliases": ["团结故事"]}]},
                     {"key": "b", "name": "B", "aliases": ["团结"], "items": [{"key": "y", "name": "Y"}]}]},
     "checklists[1].aliases", "'团结' names checklist 'b' and begins '团结故事'"),
    ({"checklists": [{"key": "a", "name": "A", "main": True, "items": [{"key": "x", "name": "信"}]},
                     {"key": "b", "name": "B", "short": "信", "items": [{"key": "y", "name": "Y"}]}]},
     "checklists[1].aliases", "'信' names checklist 'b'"),
    ({"checklists": [{"key": "a", "name": "A", "main": True,
                      "items": [{"key": "x", "name": "X", "aliases": ["三"]}]}]},
     "checklists[0].items[0].aliases", "numbers"),
])
def test_plan_shape_errors_name_the_field(change, field, reason):
    with pytest.raises(PlanError) as err:
        parse_plan({**BASE, **change}, "plan.toml", TODAY)
    assert err.value.field == field and reason in err.value.reason


def test_plan_file_errors(tmp_path):
    with pytest.raises(PlanError, match="does not exist"):
        load_plan(tmp_path / "none.toml", TODAY)
    with pytest.raises(PlanError, match="not valid TOML"):
        load_plan(write(tmp_path, "= broken", "p.toml"), TODAY)


def test_the_example_config_is_valid_and_documents_every_key(tmp_path):
    from dataclasses import fields

    from config import _SECTIONS

    example = APP_ROOT / "config.example.toml"
    with pytest.raises(ConfigError, match=r"wechat.app_id: required"):
        load_config(example, environ={})  # the account is the one thing to fill in
    text = example.read_text(encoding="utf-8").replace('app_id = ""', 'app_id = "wx1234"')
    filled = write(tmp_path, text.replace('plan = "plans/', f'plan = "{APP_ROOT}/plans/'))
    cfg = load_config(filled, environ={"TUANJIE_WECHAT_APP_SECRET": "s3cret", "TUANJIE_WECHAT_TOKEN": "myToken42",
                                       "TUANJIE_WECHAT_ENCODING_AES_KEY": "Z" * 43, "TUANJIE_API_TOKEN": "a" * 16})
    assert cfg.wechat.api_base == "https://api.weixin.qq.com" and not cfg.demo
    text = example.read_text(encoding="utf-8")
    for section, cls in _SECTIONS.items():
        assert f"[{section}]" in text
        for f in fields(cls):
            assert f"\n{f.name} = " in text, f"{section}.{f.name} is not in config.example.toml"


def test_config_path_and_database_url_mistakes_are_named(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(environ={"TUANJIE_CONFIG": str(tmp_path)})
    assert load_config(tmp_path / "absent.toml", environ={"TUANJIE_CONFIG": ""}).demo  # empty counts as unset
    for url, words in (("sqlite:///", "no file after sqlite:///"), ("mysql://", "no database name"),
                       ("postgresql://u:hunter2@db:5432", "no database name in postgresql://u:***@db:5432")):
        with pytest.raises(ConfigError, match=re.escape(words)):
            load_config(write(tmp_path, ACCOUNT + f'[database]\nurl = "{url}"'), environ={})


def test_a_database_that_cannot_be_reached_is_named_without_a_traceback(tmp_path):
    path = write(tmp_path, ACCOUNT.replace("[wechat]", '[wechat]\napi_base = "http://127.0.0.1:9"')
                 + '[database]\nurl = "postgresql://u:hunter2@127.0.0.1:1/x"')
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "server", "init-db"], cwd=APP_ROOT,
                          env={"TUANJIE_CONFIG": str(path), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "database postgresql://u:***@127.0.0.1:1/x: " in proc.stderr and "hunter2" not in proc.stderr
